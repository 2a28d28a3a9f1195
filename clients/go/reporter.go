package leaseq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

const maxReportBatch = 100

// report is one result waiting to be sent, and who to tell about its answer.
type report struct {
	outcome  outcome
	deadline time.Time // the lease runs out then at the latest
	answered func(state string, err error)
}

// reporter coalesces results into POST /v1/results calls: a result is sent at once when
// no report is in flight; results finishing meanwhile go together in the next call. So
// a lone task adds no latency and a wave of tasks costs one round trip.
//
// Results that wait for the report in flight may instead ride on the worker's next lease
// request (ADR 33): the lease loop takes them, so they need no call of their own and wait
// for nothing more. Results a lease request took and could not deliver (it failed, or was
// withdrawn at a stop) are handed back and sent from here.
type reporter struct {
	client   *Client
	log      Logger
	running  func() int // handlers still running (nil: unknown)
	mu       sync.Mutex
	waiting  []report
	inFlight bool // a report call is under way
	noRiding bool // the service ignores results on lease requests: none rides
	wake     chan struct{}
	closing  bool
	done     chan struct{}
}

func newReporter(client *Client, log Logger, running func() int) *reporter {
	r := &reporter{
		client: client, log: log, running: running, wake: make(chan struct{}, 1), done: make(chan struct{}),
	}
	go r.loop()
	return r
}

func (r *reporter) submit(reps ...report) {
	r.mu.Lock()
	r.waiting = append(r.waiting, reps...)
	r.mu.Unlock()
	r.poke()
}

func (r *reporter) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// close sends what is waiting, then stops.
func (r *reporter) close() {
	r.mu.Lock()
	r.closing = true
	r.mu.Unlock()
	r.poke()
	<-r.done
}

func (r *reporter) loop() {
	defer close(r.done)
	for range r.wake {
		r.settle()
		for {
			r.mu.Lock()
			batch := r.next()
			r.inFlight = len(batch) > 0
			closing := r.closing
			r.mu.Unlock()
			if len(batch) == 0 {
				if closing {
					return
				}
				break
			}
			r.send(batch)
		}
	}
}

// next removes up to a batch of the waiting results (r.mu held).
func (r *reporter) next() []report {
	n := len(r.waiting)
	if n > maxReportBatch {
		n = maxReportBatch
	}
	batch := append([]report(nil), r.waiting[:n]...)
	r.waiting = r.waiting[n:]
	return batch
}

// take gives a lease request about to go out up to a batch of the waiting results to
// carry: only while a report is in flight, when they would otherwise wait for it. A
// result that finds no report in flight is sent at once, here.
func (r *reporter) take() []report {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.inFlight || r.noRiding {
		return nil
	}
	return r.next()
}

// riders is how many results take would give now.
func (r *reporter) riders() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case !r.inFlight || r.noRiding:
		return 0
	case len(r.waiting) > maxReportBatch:
		return maxReportBatch
	}
	return len(r.waiting)
}

// stopRiding: from now on no result rides (the service ignores them).
func (r *reporter) stopRiding() {
	r.mu.Lock()
	r.noRiding = true
	r.mu.Unlock()
}

// settle lets the rest of a wave of handlers submit before the report goes out (they
// finish together; one report of many costs the service about what one of one does):
// while handlers still run, it waits as long as results keep arriving, until none has
// for waveQuiet (or waveMax has passed). With no handler running it sends at once.
func (r *reporter) settle() {
	if r.running == nil {
		return
	}
	quiet := time.NewTimer(waveQuiet)
	defer quiet.Stop()
	longest := time.Now().Add(waveMax)
	for r.running() > 0 && r.waitingCount() < maxReportBatch && time.Now().Before(longest) {
		select {
		case <-r.wake:
			resetTimer(quiet, waveQuiet)
		case <-quiet.C:
			return
		}
	}
}

func (r *reporter) waitingCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.waiting)
}

// send reports a batch; a call that failed is sent again while the re-send rules allow
// it: its attempts, and beyond them while a lease in the batch may still be live.
func (r *reporter) send(batch []report) {
	outcomes := make([]outcome, len(batch))
	var liveUntil time.Time
	for i, rep := range batch {
		outcomes[i] = rep.outcome
		if rep.deadline.After(liveUntil) {
			liveUntil = rep.deadline
		}
	}
	var answer resultsAnswer
	var err error
	for number := 0; ; number++ {
		err = r.client.report(context.Background(), outcomes, &answer)
		if err == nil {
			break
		}
		pause := reportRetries.pause(number)
		spent := number+1 >= reportRetries.attempts
		if !resendable(err, resendReport) || (spent && !time.Now().Add(pause).Before(liveUntil)) {
			break
		}
		r.log.Printf("reporting %d results failed, sending again: %v", len(batch), err)
		time.Sleep(pause)
	}
	if err == nil && len(answer.Results) != len(batch) {
		err = fmt.Errorf("leaseq: POST /v1/results: %d answers for %d results", len(answer.Results), len(batch))
	}
	deliver(batch, answer.Results, err)
}

// deliver tells each report of a batch its answer: answers[i] is batch[i]'s, or err is
// the whole batch's. A batch that rode on a lease request is answered here too, so its
// results are logged and counted exactly as the reporter's own.
func deliver(batch []report, answers []resultAnswer, err error) {
	for i, rep := range batch {
		if err != nil {
			rep.answered("", err)
			continue
		}
		a := answers[i]
		if a.OK {
			rep.answered(a.State, nil)
			continue
		}
		problem := &APIError{Status: 409}
		if a.Problem != nil {
			problem = &APIError{
				Status: a.Problem.Status, Type: a.Problem.Type, Title: a.Problem.Title,
				Detail: a.Problem.Detail, TaskID: a.Problem.TaskID, Errors: a.Problem.Errors,
			}
		}
		rep.answered("", problem)
	}
}

// report is POST /v1/results without the task objects (the worker needs the states).
func (c *Client) report(ctx context.Context, outcomes []outcome, answer *resultsAnswer) error {
	once := retryRule{attempts: 1}
	return c.do(ctx, call{
		method: "POST", path: "/v1/results", body: resultsBody{Results: outcomes},
		safe: resendReport, rule: &once,
	}, answer)
}

// isRefusal: the service answered the call and said no (as opposed to no answer).
func isRefusal(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status < 500
}
