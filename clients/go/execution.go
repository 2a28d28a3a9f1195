package leaseq

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

const heartbeatRetryAfter = 500 * time.Millisecond // an unanswered heartbeat is tried again this soon

// execution is one leased task from its grant to its report: the handler runs in a
// goroutine of its own while this one renews the lease every third of its duration and
// stops the handler (reporting nothing) when the lease is lost, the task is cancelled,
// or the lease runs out before a renewal.
type execution struct {
	r        *run
	g        grant
	job      *Job
	fn       HandlerFunc
	lease    time.Duration
	deadline time.Time // local: from when the lease (or heartbeat) request was sent
	nextBeat time.Time
	abandonC chan struct{}
	once     sync.Once
	prefix   string
	began    time.Time // when the handler started
}

type handled struct {
	value any
	err   error
	ran   time.Duration // from the handler's start to its return
}

type beat struct {
	sent time.Time
	err  error
}

// newExecution: granted is when the lease began (its request's sent time plus how long
// the request waited at the service). A task that waited for a slot (the prefetch) keeps
// that clock: if its first renewal is already due, the timer fires at once.
func newExecution(r *run, g grant, fn HandlerFunc, granted time.Time) *execution {
	lease := r.w.opts.LeaseDuration
	e := &execution{
		r: r, g: g, fn: fn, lease: lease,
		// The service's expiry is no earlier than this: it granted after we sent.
		deadline: granted.Add(lease),
		nextBeat: granted.Add(lease / 3),
		abandonC: make(chan struct{}),
		prefix:   fmt.Sprintf("task %s (%s v%d, attempt %d, epoch %d): ", g.TaskID, g.Type, g.TypeVersion, g.Attempt, g.Epoch),
	}
	e.job = &Job{
		ID: g.TaskID, Queue: g.Queue, Type: g.Type, Version: g.TypeVersion, Attempt: g.Attempt,
		MaxAttempts: g.MaxAttempts, Epoch: g.Epoch, Payload: g.Payload, Labels: g.Labels,
		deadline: e.deadline,
	}
	return e
}

// abandon is the end of the shutdown grace: stop the handler and give the task back.
func (e *execution) abandon() { e.once.Do(func() { close(e.abandonC) }) }

func (e *execution) logf(format string, args ...any) {
	e.r.w.log.Printf(e.prefix+format, args...)
}

func (e *execution) handlerContext() context.Context {
	ctx := context.WithValue(e.r.values, jobKey{}, e.job)
	if tp := e.g.Labels["traceparent"]; validTraceParent(tp) {
		ctx = context.WithValue(ctx, traceKey{}, tp)
	}
	return ctx
}

func (e *execution) run() {
	defer e.r.executionEnded(e)
	ctx, cancel := context.WithCancel(e.handlerContext())
	defer cancel()
	done := make(chan handled, 1) // buffered: a handler stopped late never blocks
	e.began = time.Now()
	go func() { done <- e.invoke(ctx) }()
	beatCtx, stopBeats := context.WithCancel(e.r.values)
	defer stopBeats()
	timer := time.NewTimer(time.Until(e.nextBeat))
	defer timer.Stop()
	var beats chan beat // the heartbeat in flight, if any
	abandon := e.abandonC
	shuttingDown := false
	for {
		select {
		case h := <-done:
			e.finished(h, shuttingDown)
			return
		case <-timer.C:
			if !time.Now().Before(e.deadline) {
				e.lose(cancel, ErrLeaseExpired, "the lease ran out before a heartbeat renewed it")
				return
			}
			if beats == nil && !shuttingDown {
				beats = make(chan beat, 1)
				go e.heartbeat(beatCtx, e.deadline, beats)
			}
			resetTimer(timer, time.Until(e.deadline)) // unless the heartbeat answers first
		case b := <-beats:
			beats = nil
			if stop, reason := heartbeatRefusal(b.err); stop {
				e.lose(cancel, reason, fmt.Sprintf("heartbeat refused: %v", b.err))
				return
			}
			next := e.deadline
			if b.err == nil {
				e.deadline = b.sent.Add(e.lease)
				e.job.setDeadline(e.deadline)
				next = b.sent.Add(e.lease / 3)
			} else if !shuttingDown {
				e.logf("heartbeat failed, trying again: %v", b.err)
				if soon := time.Now().Add(heartbeatRetryAfter); soon.Before(next) {
					next = soon
				}
			}
			if shuttingDown {
				next = e.deadline
			}
			resetTimer(timer, time.Until(next))
		case <-abandon:
			// The grace is over: stop the handler. No more renewals: it has until the
			// lease runs out to return, then its task is released; a handler that
			// ignores its ctx past that leaves the task to expire instead.
			abandon, shuttingDown = nil, true
			e.job.stop(ErrShutdown)
			cancel()
			resetTimer(timer, time.Until(e.deadline))
		}
	}
}

func (e *execution) invoke(ctx context.Context) (h handled) {
	defer func() {
		if p := recover(); p != nil {
			h = handled{err: panicError(p)}
		}
		h.ran = time.Since(e.began)
	}()
	value, err := e.fn(ctx, e.job)
	return handled{value: value, err: err}
}

func (e *execution) heartbeat(ctx context.Context, deadline time.Time, answer chan<- beat) {
	sent := time.Now()
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	err := e.r.w.client.heartbeat(ctx, e.g.TaskID, e.g.Token, e.lease)
	answer <- beat{sent, err}
}

// heartbeatRefusal: whether a heartbeat's answer means the lease is gone, and why.
// Other failures (no answer, 5xx) are retried until the lease runs out.
func heartbeatRefusal(err error) (bool, error) {
	switch {
	case err == nil:
		return false, nil
	case errors.Is(err, ErrTaskCancelled):
		return true, ErrTaskCancelled
	case errors.Is(err, ErrLeaseExpired):
		return true, ErrLeaseExpired
	case errors.Is(err, ErrLeaseConflict), errors.Is(err, ErrTaskNotFound):
		return true, ErrLeaseLost
	case !resendable(err, resendHeartbeat):
		return true, ErrLeaseLost // an answer we cannot act on: stop rather than overlap
	}
	return false, nil
}

// lose: the lease is gone; stop the handler, report nothing, free the slot at once (a
// handler that ignores its ctx finishes in the background, its result dropped).
func (e *execution) lose(cancel context.CancelFunc, reason error, why string) {
	if e.job.stop(reason) {
		e.logf("stopping the handler without reporting: %s", why)
	}
	cancel()
	e.r.slotDone(nil, time.Since(e.began)) // it ran at least this long
}

func (e *execution) finished(h handled, shuttingDown bool) {
	if shuttingDown {
		e.r.slotDone(nil, h.ran)
		ctx, cancel := context.WithTimeout(e.r.values, 30*time.Second)
		defer cancel()
		if err := e.r.w.client.release(ctx, e.g.TaskID, e.g.Token); err != nil {
			e.logf("could not release the task at shutdown: %v", err)
		} else {
			e.logf("released the task at shutdown")
		}
		return
	}
	if !time.Now().Before(e.deadline) {
		e.job.stop(ErrLeaseExpired)
		e.logf("the handler returned after its lease ran out; not reporting")
		e.r.slotDone(nil, h.ran)
		return
	}
	o := outcomeOf(e.g.TaskID, e.g.Token, h.value, h.err)
	e.r.slotDone(&report{outcome: o, deadline: e.deadline, answered: e.answered(o.Outcome, headline(o.Error))}, h.ran)
}

// answered logs what became of the task once the service has said so: a retry or a
// dead-letter with its reason (the error's first line), as the Python worker does.
func (e *execution) answered(kind, reason string) func(string, error) {
	return func(state string, err error) {
		defer e.r.reportAnswered()
		switch {
		case err != nil:
			e.logf("the %s result was not accepted: %v", kind, err)
		case state == "dead":
			e.logf("dead-lettered: %s", reason)
		case kind == "retry":
			e.logf("to be retried (attempt %d of %d used): %s", e.g.Attempt, e.g.MaxAttempts, reason)
		}
	}
}

// headline is the line of an error's text that says what went wrong: its first (a
// panic's value, not its stack).
func headline(text string) string {
	if i := strings.IndexByte(text, '\n'); i >= 0 {
		return text[:i]
	}
	return text
}

// resetTimer re-arms t, dropping a fire not yet received.
func resetTimer(t *time.Timer, d time.Duration) {
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
	t.Reset(d)
}
