package leaseq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"
)

// HandlerFunc runs one task. Return (result, nil) to complete it with result (encoded
// with encoding/json; nil: no result); Retry(delay) to try it again after delay;
// Fatal(err) to send it to the dead-letter list; any other error retries it under the
// task's policy, and a panic is recovered and retried with the panic's text. ctx is
// cancelled when the lease is lost, the task is cancelled, the lease runs out, or the
// shutdown grace has passed (Cause tells which); the worker then reports nothing.
type HandlerFunc func(ctx context.Context, job *Job) (any, error)

// WorkerOptions configure a Worker; zero values mean the defaults.
type WorkerOptions struct {
	Queue         string        // required
	Concurrency   int           // handlers running at once; default 10
	WorkerID      string        // default host:pid:random
	LeaseDuration time.Duration // default 30 s; renewed every third while a handler runs
	// Prefetch is how many leased tasks the worker may hold beyond Concurrency, waiting
	// for a slot: a freed slot starts the next at once, and the next lease request goes
	// out while handlers still run (it hides a round trip per wave of short tasks). A
	// waiting task's lease runs from its grant and other workers cannot take it, so it is
	// given back unrun once half its lease has passed, and at shutdown. Default (0):
	// automatic: while the recent handlers are short (at most 50 ms and a twentieth of
	// the lease), as many as the slots start within that time, at least Concurrency and
	// at most 4 per slot and 100 in all; none otherwise. Negative: none.
	Prefetch int
	// ShutdownGrace is how long Run waits for running handlers once its ctx is done
	// before it cancels them and releases their tasks; default 30 s, negative: none.
	ShutdownGrace time.Duration
	// PollWait is how long a lease request waits for a task (long polling); default
	// 10 s, at most LeaseDuration/3 and 20 s (the service's limit); negative: no wait.
	PollWait time.Duration
	Logger   Logger // default: the standard library's log, prefixed "leaseq: "
}

const (
	maxClaim       = 1000 // the most one lease request may ask for
	maxServiceWait = 20 * time.Second
)

// Worker runs handlers for one queue's tasks, by type and version.
type Worker struct {
	client   *Client
	opts     WorkerOptions
	log      Logger
	handlers map[typeVersion]HandlerFunc
	mu       sync.Mutex
	running  bool
	stopNow  chan struct{} // closed by StopNow; one per Run
	stopped  bool          // stopNow is closed
}

type typeVersion struct {
	Type    string
	Version int
}

// NewWorker returns a worker leasing from c; register handlers with Handle, then Run.
func NewWorker(c *Client, opts WorkerOptions) *Worker {
	if opts.Concurrency == 0 {
		opts.Concurrency = 10
	}
	if opts.LeaseDuration == 0 {
		opts.LeaseDuration = 30 * time.Second
	}
	if opts.ShutdownGrace == 0 {
		opts.ShutdownGrace = 30 * time.Second
	} else if opts.ShutdownGrace < 0 {
		opts.ShutdownGrace = 0
	}
	opts.PollWait = pollWait(opts.PollWait, opts.LeaseDuration)
	if opts.WorkerID == "" {
		opts.WorkerID = defaultWorkerID()
	}
	log := opts.Logger
	if log == nil {
		log = defaultLogger()
	}
	return &Worker{client: c, opts: opts, log: log, handlers: map[typeVersion]HandlerFunc{}}
}

// pollWait: a lease granted at the end of a long poll must start with most of its lease
// left, since the worker counts the lease from when it sent the request.
func pollWait(asked, lease time.Duration) time.Duration {
	switch {
	case asked < 0:
		return 0
	case asked == 0:
		asked = 10 * time.Second
	}
	if asked > lease/3 {
		asked = lease / 3
	}
	if asked > maxServiceWait {
		asked = maxServiceWait
	}
	return asked
}

func defaultWorkerID() string {
	host, err := os.Hostname()
	if err != nil {
		host = "worker"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// Handle registers fn for tasks of taskType and version; the worker leases only the
// registered pairs. It panics on an empty type, a nil handler, a pair registered twice,
// or a worker already running (as http.Handle does: these are programming errors).
func (w *Worker) Handle(taskType string, version int, fn HandlerFunc) {
	w.mu.Lock()
	defer w.mu.Unlock()
	key := typeVersion{taskType, version}
	switch {
	case taskType == "":
		panic("leaseq: Handle: empty task type")
	case fn == nil:
		panic("leaseq: Handle: nil handler for " + taskType)
	case w.running:
		panic("leaseq: Handle: the worker is already running")
	case w.handlers[key] != nil:
		panic(fmt.Sprintf("leaseq: Handle: a handler for %s version %d is already registered", taskType, version))
	}
	w.handlers[key] = fn
}

// Run leases and runs tasks until ctx is done, then shuts down gracefully: it stops
// leasing (a lease request in flight is withdrawn and what it was granted released
// unrun, as are the tasks waiting for a slot), waits up to ShutdownGrace for running
// handlers (StopNow ends the wait), cancels the rest and releases their tasks, sends the
// results still waiting, and returns nil.
// It returns an error at once for a configuration the service refuses (ErrUnauthorized,
// ErrForbidden, ErrValidation); other failures are logged and retried with jittered
// backoff.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.start(); err != nil {
		return err
	}
	defer w.finish()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hurry := w.stopNow
	go func() { // StopNow stops leasing too
		select {
		case <-hurry:
			cancel()
		case <-ctx.Done():
		}
	}()
	r := newRun(w, ctx)
	r.hurry = hurry
	err := r.claimUntilDone(ctx)
	r.shutdown()
	return err
}

func (w *Worker) start() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.opts.Queue == "":
		return invalid("Queue", "must not be empty")
	case w.opts.Concurrency < 1:
		return invalid("Concurrency", "must be at least 1, got %d", w.opts.Concurrency)
	case w.opts.LeaseDuration < time.Second:
		return invalid("LeaseDuration", "must be at least 1s, got %v", w.opts.LeaseDuration)
	case len(w.handlers) == 0:
		return invalid("handlers", "register at least one with Handle before Run")
	case w.running:
		return errors.New("leaseq: the worker is already running")
	}
	w.running = true
	w.stopNow, w.stopped = make(chan struct{}), false
	return nil
}

// StopNow ends the running Run without waiting out ShutdownGrace: leasing stops, running
// handlers are cancelled (Cause: ErrShutdown) and their tasks released (the attempt is
// not spent) once they return. Call it on a second Ctrl-C (examples/worker does).
func (w *Worker) StopNow() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running && !w.stopped {
		w.stopped = true
		close(w.stopNow)
	}
}

func (w *Worker) finish() {
	w.mu.Lock()
	w.running = false
	w.mu.Unlock()
}

func (w *Worker) types() []typeBody {
	types := make([]typeBody, 0, len(w.handlers))
	for key := range w.handlers {
		types = append(types, typeBody{Type: key.Type, Version: key.Version})
	}
	sort.Slice(types, func(i, j int) bool {
		if types[i].Type != types[j].Type {
			return types[i].Type < types[j].Type
		}
		return types[i].Version < types[j].Version
	})
	return types
}

// lease asks for up to max tasks; the long poll gets its wait on top of the timeout.
// The answer: the grants, how long the request waited at the service before them, and
// the answers of the results it carried. A re-send carries the same request_id marked a
// repeat, and the same results; it is answered with the grants the first try got
// (waited 0), so none is left to expire unread, and each applied result with its first
// answer.
func (c *Client) lease(ctx context.Context, body leaseBody) (leaseAnswer, error) {
	margin := c.timeout
	if margin < 10*time.Second {
		margin = 10 * time.Second
	}
	repeat := body
	repeat.Repeat = true
	var answer leaseAnswer
	err := c.do(ctx, call{
		method: "POST", path: "/v1/leases", body: body, resendBody: repeat, safe: resendLease,
		timeout: seconds(body.WaitSeconds) + margin,
	}, &answer)
	return answer, err
}

func (c *Client) heartbeat(ctx context.Context, id, token string, lease time.Duration) error {
	once := retryRule{attempts: 1} // the execution schedules its own re-sends
	return c.do(ctx, call{
		method: "POST", path: taskPath(id, "heartbeat"),
		body: heartbeatBody{Token: token, LeaseSeconds: lease.Seconds()}, safe: resendHeartbeat, rule: &once,
	}, nil)
}

func (c *Client) release(ctx context.Context, id, token string) error {
	return c.do(ctx, call{
		method: "POST", path: taskPath(id, "release"), body: tokenBody{Token: token}, safe: resendRelease,
	}, nil)
}
