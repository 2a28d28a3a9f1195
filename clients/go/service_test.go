package leaseq_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leaseq/leaseq/clients/go"
	"github.com/leaseq/leaseq/clients/go/internal/testservice"
)

// The integration tests run against one real `leaseq serve` on PostgreSQL, started on
// first use; each test works in a queue of its own.

var (
	serviceOnce sync.Once
	service     *testservice.Service
	serviceErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if service != nil {
		service.Stop()
	}
	os.Exit(code)
}

func liveService(t *testing.T) *testservice.Service {
	t.Helper()
	serviceOnce.Do(func() { service, serviceErr = testservice.Start(testservice.Options{}) })
	if serviceErr != nil {
		if errors.Is(serviceErr, testservice.ErrNoService) && !testservice.InCI() {
			t.Skip(serviceErr)
		}
		t.Fatal(serviceErr)
	}
	return service
}

func newClient(t *testing.T, url string, opts ...leaseq.Option) *leaseq.Client {
	t.Helper()
	c, err := leaseq.NewClient(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func queueName(t *testing.T) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := strings.NewReplacer("/", ".", " ", "_").Replace(t.Name())
	if len(name) > 100 {
		name = name[:100]
	}
	return name + "." + hex.EncodeToString(b[:])
}

type logLines struct{ t *testing.T }

func (l logLines) Printf(format string, args ...any) { l.t.Logf(format, args...) }

// keptLines logs to the test and keeps each line, to be searched.
type keptLines struct {
	t     *testing.T
	mu    sync.Mutex
	lines []string
}

func (l *keptLines) Printf(format string, args ...any) {
	l.t.Logf(format, args...)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

// awaitLine waits up to 5 s for a line with both parts in it (a report's answer, and so
// its log line, may come a moment after the task's final state is visible).
func (l *keptLines) awaitLine(t *testing.T, part, rest string) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		l.mu.Lock()
		for _, line := range l.lines {
			if strings.Contains(line, part) && strings.Contains(line, rest) {
				l.mu.Unlock()
				return
			}
		}
		l.mu.Unlock()
	}
	t.Errorf("no log line with %q and %q", part, rest)
}

// running starts w.Run; the returned stop cancels it and answers Run's error.
func running(t *testing.T, w *leaseq.Worker) (stop func() error) {
	t.Helper()
	cancel, returned := startRun(t, w, 30*time.Second)
	return func() error {
		cancel()
		return returned()
	}
}

// startRun starts w.Run, for tests that check something between cancelling it and its
// return: returned waits for Run (failing the test if that takes longer than limit) and
// answers its error; the test's end cancels and waits too.
func startRun(t *testing.T, w *leaseq.Worker, limit time.Duration) (cancel context.CancelFunc, returned func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	var err error
	returned = func() error {
		once.Do(func() {
			select {
			case err = <-done:
			case <-time.After(limit):
				t.Errorf("Run did not return within %v", limit)
			}
		})
		return err
	}
	t.Cleanup(func() {
		cancel()
		_ = returned()
	})
	return cancel, returned
}

func waitFinished(t *testing.T, c *leaseq.Client, id string) leaseq.Task {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	task, err := c.Wait(ctx, id, 20*time.Millisecond)
	if err != nil {
		t.Fatalf("task %s did not finish: %v (%+v)", id, err, task)
	}
	return task
}

func transitions(t *testing.T, c *leaseq.Client, id string) string {
	t.Helper()
	events, err := c.History(context.Background(), id, 0)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(events))
	for i, e := range events {
		names[i] = e.Transition
	}
	return strings.Join(names, " ")
}

func TestTasksAreEnqueuedLeasedAndCompletedThroughTheService(t *testing.T) {
	t.Parallel()
	svc := liveService(t)
	c, queue := newClient(t, svc.URL), queueName(t)
	ctx := context.Background()
	batch := make([]leaseq.NewTask, 20)
	for i := range batch {
		batch[i] = leaseq.NewTask{Queue: queue, Type: "add", Payload: map[string]int{"a": i, "b": 1}}
	}
	refs, err := c.EnqueueBatch(ctx, batch)
	if err != nil || len(refs) != 20 {
		t.Fatalf("EnqueueBatch = %d refs, %v", len(refs), err)
	}
	tp := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	traced, err := c.Enqueue(leaseq.WithTraceParent(ctx, tp), leaseq.NewTask{
		Queue: queue, Type: "add", Payload: map[string]int{"a": 40, "b": 2}, IdempotencyKey: "answer",
	})
	if err != nil || traced.Deduplicated {
		t.Fatalf("Enqueue = %+v, %v", traced, err)
	}
	again, err := c.Enqueue(ctx, leaseq.NewTask{Queue: queue, Type: "add", IdempotencyKey: "answer"})
	if err != nil || again.ID != traced.ID || !again.Deduplicated {
		t.Fatalf("the same key again = %+v, %v; want %s deduplicated", again, err, traced.ID)
	}

	w := leaseq.NewWorker(c, leaseq.WorkerOptions{Queue: queue, Concurrency: 4, Logger: logLines{t}})
	var mu sync.Mutex
	seenTrace := map[string]string{}
	w.Handle("add", 1, func(ctx context.Context, job *leaseq.Job) (any, error) {
		var p struct{ A, B int }
		if err := job.Decode(&p); err != nil {
			return nil, leaseq.Fatal(err)
		}
		got, _ := leaseq.TraceParent(ctx)
		mu.Lock()
		seenTrace[job.ID] = got
		mu.Unlock()
		return map[string]any{"sum": p.A + p.B, "epoch": job.Epoch, "attempt": job.Attempt}, nil
	})
	running(t, w)
	for i, ref := range append(refs, traced) {
		task := waitFinished(t, c, ref.ID)
		want := `{"attempt":1,"epoch":1,"sum":` + map[bool]string{true: "42", false: itoa(i + 1)}[ref.ID == traced.ID] + `}`
		if task.State != "succeeded" || string(task.Result) != want || task.Attempts != 1 {
			t.Errorf("task %d: %s %s attempts %d; want succeeded %s", i, task.State, task.Result, task.Attempts, want)
		}
	}
	mu.Lock()
	if seenTrace[traced.ID] != tp || seenTrace[refs[0].ID] != "" {
		t.Errorf("traceparents seen by the handler: %v", seenTrace)
	}
	mu.Unlock()
	if got := transitions(t, c, traced.ID); got != "enqueued leased completed" {
		t.Errorf("history: %s", got)
	}
	stats, err := c.QueueStats(ctx, queue)
	if err != nil || stats.Counts["succeeded"] != 21 || stats.Counts["pending"] != 0 {
		t.Errorf("stats = %+v, %v", stats, err)
	}
	page, err := c.List(ctx, leaseq.TaskFilter{Queue: queue, State: "succeeded", Limit: 5})
	if err != nil || len(page.Tasks) != 5 || page.NextCursor == "" {
		t.Errorf("List = %d tasks, cursor %q, %v", len(page.Tasks), page.NextCursor, err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestRetryFatalAndPanicEndAsTheirPolicySays(t *testing.T) {
	t.Parallel()
	svc := liveService(t)
	c, queue := newClient(t, svc.URL), queueName(t)
	ctx := context.Background()
	quick := &leaseq.RetryPolicy{Base: 20 * time.Millisecond, Max: 50 * time.Millisecond}
	enqueue := func(taskType string, attempts int) string {
		ref, err := c.Enqueue(ctx, leaseq.NewTask{Queue: queue, Type: taskType, MaxAttempts: attempts, Retry: quick})
		if err != nil {
			t.Fatal(err)
		}
		return ref.ID
	}
	retried, fatal, panicked, failed := enqueue("retry", 5), enqueue("fatal", 5), enqueue("panic", 2), enqueue("error", 2)
	log := &keptLines{t: t}
	w := leaseq.NewWorker(c, leaseq.WorkerOptions{Queue: queue, Concurrency: 4, Logger: log})
	w.Handle("retry", 1, func(ctx context.Context, job *leaseq.Job) (any, error) {
		if job.Attempt < 3 {
			return nil, leaseq.Retry(50 * time.Millisecond)
		}
		return "third time lucky", nil
	})
	w.Handle("fatal", 1, func(ctx context.Context, job *leaseq.Job) (any, error) {
		return nil, leaseq.Fatal(errors.New("bad address"))
	})
	w.Handle("panic", 1, func(ctx context.Context, job *leaseq.Job) (any, error) {
		var m map[string]int
		m["boom"]++ // a nil map: panics
		return nil, nil
	})
	w.Handle("error", 1, func(ctx context.Context, job *leaseq.Job) (any, error) {
		return nil, errors.New("flaky")
	})
	running(t, w)
	if task := waitFinished(t, c, retried); task.State != "succeeded" || task.Attempts != 3 ||
		string(task.Result) != `"third time lucky"` {
		t.Errorf("retry: %+v", task)
	}
	if task := waitFinished(t, c, fatal); task.State != "dead" || task.Attempts != 1 || task.LastError != "bad address" {
		t.Errorf("fatal: %+v", task)
	}
	if task := waitFinished(t, c, panicked); task.State != "dead" || task.Attempts != 2 ||
		!strings.HasPrefix(task.LastError, "panic: assignment to entry in nil map") {
		t.Errorf("panic: %+v", task)
	}
	if task := waitFinished(t, c, failed); task.State != "dead" || task.Attempts != 2 || task.LastError != "flaky" {
		t.Errorf("error: %+v", task)
	}
	if got := transitions(t, c, retried); got != "enqueued leased retried leased retried leased completed" {
		t.Errorf("retry history: %s", got)
	}
	// Each retry and dead-letter is logged with its reason, the error's first line.
	log.awaitLine(t, retried+" (retry v1, attempt 2,", "): to be retried (attempt 2 of 5 used): retry requested (after 50ms)")
	log.awaitLine(t, fatal, "): dead-lettered: bad address")
	log.awaitLine(t, panicked+" (panic v1, attempt 1,", "): to be retried (attempt 1 of 2 used): panic: assignment to entry in nil map")
	log.awaitLine(t, panicked+" (panic v1, attempt 2,", "): dead-lettered: panic: assignment to entry in nil map")
	log.awaitLine(t, failed, "): dead-lettered: flaky")
	log.mu.Lock()
	defer log.mu.Unlock()
	for _, line := range log.lines {
		if strings.Contains(line, "goroutine ") {
			t.Errorf("a log line carries a stack: %q", line)
		}
	}
}

func TestHeartbeatsKeepASlowHandlersLeaseOnTheService(t *testing.T) {
	t.Parallel()
	svc := liveService(t)
	c, queue := newClient(t, svc.URL), queueName(t)
	ref, err := c.Enqueue(context.Background(), leaseq.NewTask{Queue: queue, Type: "slow"})
	if err != nil {
		t.Fatal(err)
	}
	w := leaseq.NewWorker(c, leaseq.WorkerOptions{Queue: queue, LeaseDuration: time.Second, Logger: logLines{t}})
	w.Handle("slow", 1, func(ctx context.Context, job *leaseq.Job) (any, error) {
		select {
		case <-time.After(3500 * time.Millisecond): // three and a half leases
			return "done", nil
		case <-ctx.Done():
			return nil, leaseq.Cause(ctx)
		}
	})
	running(t, w)
	task := waitFinished(t, c, ref.ID)
	if task.State != "succeeded" || task.Attempts != 1 {
		t.Errorf("task = %s after %d attempts (%s)", task.State, task.Attempts, task.LastError)
	}
	if got := transitions(t, c, ref.ID); got != "enqueued leased completed" {
		t.Errorf("history: %s", got)
	}
}

func TestCancellingATaskCancelsItsHandlersContext(t *testing.T) {
	t.Parallel()
	svc := liveService(t)
	c, queue := newClient(t, svc.URL), queueName(t)
	ref, err := c.Enqueue(context.Background(), leaseq.NewTask{Queue: queue, Type: "long"})
	if err != nil {
		t.Fatal(err)
	}
	w := leaseq.NewWorker(c, leaseq.WorkerOptions{Queue: queue, LeaseDuration: 1500 * time.Millisecond, Logger: logLines{t}})
	started, causes := make(chan struct{}), make(chan error, 1)
	w.Handle("long", 1, func(ctx context.Context, job *leaseq.Job) (any, error) {
		close(started)
		<-ctx.Done()
		causes <- leaseq.Cause(ctx)
		return "finished anyway", nil // not reported
	})
	running(t, w)
	<-started
	cancelledAt := time.Now()
	if err := c.Cancel(context.Background(), ref.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case cause := <-causes:
		if cause != leaseq.ErrTaskCancelled {
			t.Errorf("Cause = %v", cause)
		}
		if took := time.Since(cancelledAt); took > 1500*time.Millisecond {
			t.Errorf("the handler heard of the cancel after %v, more than a lease", took)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler's ctx was not cancelled")
	}
	if err := c.Cancel(context.Background(), ref.ID); !errors.Is(err, leaseq.ErrInvalidTransition) {
		t.Errorf("a second cancel: %v", err)
	}
	time.Sleep(200 * time.Millisecond) // a report, had one been sent, would have landed
	if got := transitions(t, c, ref.ID); got != "enqueued leased cancelled" {
		t.Errorf("history: %s", got)
	}
}

// partition drops the heartbeats of one worker: its leases run out while it is cut off.
type partition struct {
	inner   http.RoundTripper
	mu      sync.Mutex
	reports int
}

func (p *partition) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.URL.Path, "/heartbeat") {
		return nil, errors.New("network partition (planted)")
	}
	if req.URL.Path == "/v1/results" || strings.HasSuffix(req.URL.Path, "/complete") {
		p.mu.Lock()
		p.reports++
		p.mu.Unlock()
	}
	return p.inner.RoundTrip(req)
}

func TestAWorkerThatLostItsLeaseReportsNothingAndTheNextOwnerFinishes(t *testing.T) {
	t.Parallel()
	svc := liveService(t)
	cutOff := &partition{inner: http.DefaultTransport}
	c, queue := newClient(t, svc.URL), queueName(t)
	isolated := newClient(t, svc.URL, leaseq.WithHTTPClient(&http.Client{Transport: cutOff}))
	ref, err := c.Enqueue(context.Background(), leaseq.NewTask{Queue: queue, Type: "job"})
	if err != nil {
		t.Fatal(err)
	}
	first := leaseq.NewWorker(isolated, leaseq.WorkerOptions{Queue: queue, LeaseDuration: time.Second, Logger: logLines{t}})
	causes := make(chan error, 1)
	first.Handle("job", 1, func(ctx context.Context, job *leaseq.Job) (any, error) {
		<-ctx.Done()
		causes <- leaseq.Cause(ctx)
		return map[string]string{"by": "first"}, nil // must not be reported
	})
	stopFirst := running(t, first)
	select {
	case cause := <-causes:
		if cause != leaseq.ErrLeaseExpired {
			t.Errorf("Cause = %v", cause)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the cut-off worker's handler was not stopped")
	}
	_ = stopFirst()
	second := leaseq.NewWorker(c, leaseq.WorkerOptions{Queue: queue, LeaseDuration: time.Second, Logger: logLines{t}})
	second.Handle("job", 1, func(ctx context.Context, job *leaseq.Job) (any, error) {
		return map[string]any{"by": "second", "epoch": job.Epoch}, nil
	})
	running(t, second)
	task := waitFinished(t, c, ref.ID)
	if want := `{"by":"second","epoch":` + itoa(int(task.Epoch)) + `}`; task.State != "succeeded" || string(task.Result) != want {
		t.Errorf("task = %s %s, want succeeded %s", task.State, task.Result, want)
	}
	// (The first worker's lease request in flight when it stopped may have been granted
	// the expired task again; it gave it back unrun.)
	got := transitions(t, c, ref.ID)
	if got != "enqueued leased expired leased completed" && got != "enqueued leased expired leased released leased completed" {
		t.Errorf("history: %s", got)
	}
	cutOff.mu.Lock()
	defer cutOff.mu.Unlock()
	if cutOff.reports != 0 {
		t.Errorf("the worker that lost its lease sent %d reports", cutOff.reports)
	}
}

func TestShutdownReleasesWhatTheGraceDidNotFinish(t *testing.T) {
	t.Parallel()
	svc := liveService(t)
	c, queue := newClient(t, svc.URL), queueName(t)
	ctx := context.Background()
	refs, err := c.EnqueueBatch(ctx, []leaseq.NewTask{{Queue: queue, Type: "quick"}, {Queue: queue, Type: "endless"}})
	if err != nil {
		t.Fatal(err)
	}
	w := leaseq.NewWorker(c, leaseq.WorkerOptions{
		Queue: queue, Concurrency: 2, ShutdownGrace: 500 * time.Millisecond, Logger: logLines{t},
	})
	var started sync.WaitGroup
	started.Add(2)
	w.Handle("quick", 1, func(ctx context.Context, job *leaseq.Job) (any, error) {
		started.Done()
		time.Sleep(200 * time.Millisecond)
		return "made it", nil
	})
	w.Handle("endless", 1, func(ctx context.Context, job *leaseq.Job) (any, error) {
		started.Done()
		<-ctx.Done()
		return nil, ctx.Err()
	})
	stop := running(t, w)
	started.Wait()
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	quick, err := c.Get(ctx, refs[0].ID)
	if err != nil || quick.State != "succeeded" {
		t.Errorf("the quick task: %+v, %v", quick, err)
	}
	endless, err := c.Get(ctx, refs[1].ID)
	if err != nil || endless.State != "pending" || endless.Attempts != 0 {
		t.Errorf("the endless task: %s with %d attempts, %v; want pending, its attempt given back", endless.State, endless.Attempts, err)
	}
	if got := transitions(t, c, refs[1].ID); got != "enqueued leased released" {
		t.Errorf("history: %s", got)
	}
}

func TestALeaseRequestInFlightAtShutdownHasItsGrantsReleased(t *testing.T) {
	t.Parallel()
	svc := liveService(t)
	c, queue := newClient(t, svc.URL), queueName(t)
	w := leaseq.NewWorker(c, leaseq.WorkerOptions{
		Queue: queue, LeaseDuration: 10 * time.Second, PollWait: 3 * time.Second, Logger: logLines{t},
	})
	ran := make(chan struct{}, 1)
	w.Handle("late", 1, func(ctx context.Context, job *leaseq.Job) (any, error) {
		ran <- struct{}{}
		return nil, nil
	})
	cancel, returned := startRun(t, w, 10*time.Second)
	time.Sleep(500 * time.Millisecond) // the worker is long-polling
	cancel()
	ref, err := c.Enqueue(context.Background(), leaseq.NewTask{Queue: queue, Type: "late"})
	if err != nil {
		t.Fatal(err)
	}
	if err := returned(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ran:
		t.Error("a task granted after the shutdown began was run")
	default:
	}
	task, err := c.Get(context.Background(), ref.ID)
	if err != nil || task.State != "pending" || task.Attempts != 0 {
		t.Errorf("task = %s with %d attempts, %v", task.State, task.Attempts, err)
	}
	if got := transitions(t, c, ref.ID); got != "enqueued leased released" && got != "enqueued" {
		t.Errorf("history: %s", got)
	}
}

func TestTheServicesRefusalsArriveAsTypedErrors(t *testing.T) {
	t.Parallel()
	svc := liveService(t)
	c, queue := newClient(t, svc.URL), queueName(t)
	ctx := context.Background()
	_, err := c.Get(ctx, "01a222db-c9c5-7000-8590-eae450e5fa77")
	var ae *leaseq.APIError
	if !errors.Is(err, leaseq.ErrTaskNotFound) || !errors.As(err, &ae) || ae.Status != 404 {
		t.Errorf("Get of an unknown id: %v", err)
	}
	_, err = c.Enqueue(ctx, leaseq.NewTask{Queue: "no spaces allowed", Type: "t"})
	if !errors.Is(err, leaseq.ErrValidation) || !errors.As(err, &ae) || len(ae.Errors) == 0 || !strings.HasSuffix(ae.Errors[0].Field, "queue") {
		t.Errorf("a bad queue name: %v (%+v)", err, ae)
	}
	_, err = c.Enqueue(ctx, leaseq.NewTask{Queue: queue, Type: "t", RunAt: time.Now(), Delay: time.Second})
	if !errors.Is(err, leaseq.ErrValidation) || !strings.Contains(err.Error(), "delay_seconds") {
		t.Errorf("both run_at and delay: %v", err)
	}
	ref, err := c.Enqueue(ctx, leaseq.NewTask{Queue: queue, Type: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Requeue(ctx, ref.ID); !errors.Is(err, leaseq.ErrInvalidTransition) {
		t.Errorf("requeue of a pending task: %v", err)
	}
}

func TestTokensAndScopesArriveAsUnauthorizedAndForbidden(t *testing.T) {
	t.Parallel()
	liveService(t) // (skips or fails as the others do when there is no leaseq command)
	svc, err := testservice.Start(testservice.Options{Memory: true, Env: []string{"LEASEQ_TOKENS=p1:produce;w1:work"}})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	ctx := context.Background()
	_, err = newClient(t, svc.URL).Enqueue(ctx, leaseq.NewTask{Queue: "q", Type: "t"})
	if !errors.Is(err, leaseq.ErrUnauthorized) {
		t.Errorf("no token: %v", err)
	}
	producer := newClient(t, svc.URL, leaseq.WithToken("p1"))
	if _, err := producer.Enqueue(ctx, leaseq.NewTask{Queue: "q", Type: "t"}); err != nil {
		t.Errorf("a produce token enqueueing: %v", err)
	}
	w := leaseq.NewWorker(producer, leaseq.WorkerOptions{Queue: "q", Logger: logLines{t}})
	w.Handle("t", 1, func(ctx context.Context, job *leaseq.Job) (any, error) { return nil, nil })
	runCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := w.Run(runCtx); !errors.Is(err, leaseq.ErrForbidden) {
		t.Errorf("a worker with a produce token: Run = %v, want ErrForbidden", err)
	}
}

func TestAnIdleWorkerStopsAtOnceAndTakesNothingWithIt(t *testing.T) {
	t.Parallel()
	svc := liveService(t)
	c, queue := newClient(t, svc.URL), queueName(t)
	w := leaseq.NewWorker(c, leaseq.WorkerOptions{
		Queue: queue, LeaseDuration: 30 * time.Second, PollWait: 10 * time.Second, Logger: logLines{t},
	})
	w.Handle("job", 1, func(ctx context.Context, job *leaseq.Job) (any, error) {
		t.Error("a task ran after the worker stopped")
		return nil, nil
	})
	stop := running(t, w)
	time.Sleep(300 * time.Millisecond) // its lease request is waiting at the service by now
	stopped := time.Now()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(stopped); took > 2*time.Second {
		t.Errorf("stopping took %v: it waited for its long poll (10s)", took)
	}
	ref, err := c.Enqueue(context.Background(), leaseq.NewTask{Queue: queue, Type: "job"})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	task, err := c.Get(context.Background(), ref.ID)
	if err != nil {
		t.Fatal(err)
	}
	if task.State != "pending" || task.Attempts != 0 {
		t.Errorf("task after the stop: %s, %d attempts; want pending, 0", task.State, task.Attempts)
	}
}

func TestStopNowReleasesTheRunningTasksWithoutTheGracePeriod(t *testing.T) {
	t.Parallel()
	svc := liveService(t)
	c, queue := newClient(t, svc.URL), queueName(t)
	ref, err := c.Enqueue(context.Background(), leaseq.NewTask{Queue: queue, Type: "endless"})
	if err != nil {
		t.Fatal(err)
	}
	w := leaseq.NewWorker(c, leaseq.WorkerOptions{Queue: queue, ShutdownGrace: 30 * time.Second, Logger: logLines{t}})
	started := make(chan struct{})
	w.Handle("endless", 1, func(ctx context.Context, job *leaseq.Job) (any, error) {
		close(started)
		<-ctx.Done()
		return nil, leaseq.Cause(ctx)
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	<-started
	cancel() // the first Ctrl-C: the handler gets its grace period
	select {
	case <-done:
		t.Fatal("Run returned before its grace period or a StopNow")
	case <-time.After(300 * time.Millisecond):
	}
	stoppedAt := time.Now()
	w.StopNow() // the second
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("StopNow did not end Run")
	}
	if took := time.Since(stoppedAt); took > 2*time.Second {
		t.Errorf("StopNow took %v", took)
	}
	task, err := c.Get(context.Background(), ref.ID)
	if err != nil {
		t.Fatal(err)
	}
	if task.State != "pending" || task.Attempts != 0 {
		t.Errorf("task after StopNow: %s, %d attempts; want pending (released), 0", task.State, task.Attempts)
	}
}

func TestALimitedQueueRunsNoMoreHandlersThanItsCapsAllow(t *testing.T) {
	t.Parallel()
	svc := liveService(t)
	c, queue := newClient(t, svc.URL), queueName(t)
	ctx := context.Background()
	state, err := c.SetLimits(ctx, queue, leaseq.QueueLimits{Concurrency: 3, ConcurrencyPerKey: 1})
	if err != nil || state.Limits != (leaseq.QueueLimits{Concurrency: 3, ConcurrencyPerKey: 1}) {
		t.Fatalf("SetLimits = %+v, %v", state, err)
	}
	batch := make([]leaseq.NewTask, 12)
	for i := range batch {
		batch[i] = leaseq.NewTask{Queue: queue, Type: "slow", ConcurrencyKey: "k" + itoa(i%4)}
	}
	refs, err := c.EnqueueBatch(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	inFlight, most := map[string]int{}, 0
	w := leaseq.NewWorker(c, leaseq.WorkerOptions{Queue: queue, Concurrency: 8, Logger: logLines{t}})
	w.Handle("slow", 1, func(ctx context.Context, job *leaseq.Job) (any, error) {
		task, err := c.Get(ctx, job.ID)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		inFlight[task.ConcurrencyKey]++
		total := 0
		for key, n := range inFlight {
			total += n
			if n > 1 {
				t.Errorf("key %s: %d handlers at once", key, n)
			}
		}
		if total > most {
			most = total
		}
		mu.Unlock()
		time.Sleep(150 * time.Millisecond)
		mu.Lock()
		inFlight[task.ConcurrencyKey]--
		mu.Unlock()
		return nil, nil
	})
	running(t, w)
	for _, ref := range refs {
		if task := waitFinished(t, c, ref.ID); task.State != "succeeded" {
			t.Errorf("task %s: %s", ref.ID, task.State)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if most > 3 || most < 2 {
		t.Errorf("%d handlers at once; the cap is 3", most)
	}
}
