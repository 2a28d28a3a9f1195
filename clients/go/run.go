package leaseq

import (
	"context"
	"errors"
	"sync"
	"time"
)

const (
	withdrawTimeout = 5 * time.Second        // the repeat that collects a withdrawn request's grants
	waveQuiet       = 200 * time.Microsecond // a wave is over when no slot has freed for this long
	waveMax         = 2 * time.Millisecond   // … and at the latest
	waitedTooLong   = "it waited too long for a slot"
)

// run is one Run of a worker: the claim loop, the slots, the prefetch buffer, and the
// shutdown.
type run struct {
	w        *Worker
	values   context.Context // Run's ctx without its cancellation
	reporter *reporter

	mu         sync.Mutex
	handling   int // slots held: handlers running
	reporting  int // handlers done, their results not yet answered
	executions map[*execution]struct{}
	stoppedAt  time.Time // zero until Run's ctx is done (or Run returns)
	pace       handlerPace
	waiting    []waitingTask // leased beyond the slots (the prefetch), oldest first
	stale      *time.Timer   // gives the oldest waiting task back once it is stale

	hurry     chan struct{} // closed by Worker.StopNow: no more grace
	slotFreed chan struct{} // poked when a slot frees
	stopping  chan struct{} // closed once Run's ctx is done
	ended     chan struct{} // closed when Run returns
	wg        sync.WaitGroup
	releases  sync.WaitGroup // unstarted tasks being given back
}

func newRun(w *Worker, ctx context.Context) *run {
	r := &run{
		w: w, values: detached{ctx}, executions: map[*execution]struct{}{},
		slotFreed: make(chan struct{}, 1), stopping: make(chan struct{}), ended: make(chan struct{}),
	}
	r.reporter = newReporter(w.client, w.log, r.handlersRunning)
	go func() {
		select {
		case <-ctx.Done():
		case <-r.ended:
		}
		r.mu.Lock()
		r.stoppedAt = time.Now()
		unstarted := r.takeWaitingLocked()
		r.mu.Unlock()
		if ctx.Err() != nil {
			w.log.Printf("stopping: no more leasing")
		}
		// At once, not after the grace period: a waiting task would hold its lease unrun.
		if len(unstarted) > 0 {
			w.log.Printf("giving back %d leased tasks that waited for a slot", len(unstarted))
			r.releaseUnstarted(unstarted, "the worker is shutting down")
		}
		close(r.stopping)
	}()
	return r
}

// free is how many tasks the next lease request may ask for: the free slots plus the
// room left for the prefetch.
func (r *run) free() int { return r.freeCarrying(0) }

// freeCarrying: free, for a lease request that carries `carried` results taken already.
func (r *run) freeCarrying(carried int) int {
	riders := carried + r.reporter.riders()
	r.mu.Lock()
	defer r.mu.Unlock()
	free := r.freeSlotsLocked(riders) + r.prefetchLocked() - len(r.waiting)
	if free > maxClaim {
		free = maxClaim
	}
	return free
}

// freeSlots: slots no handler holds. Results being reported hold none, but at most
// Concurrency of them may wait, so the backlog stays bounded when the service is slow
// to answer reports. Those the lease request would carry (ADR 33) do not hold it back:
// it reports them.
func (r *run) freeSlots() int {
	riders := r.reporter.riders()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.freeSlotsLocked(riders)
}

func (r *run) freeSlotsLocked(riders int) int {
	held := r.handling
	if backlog := r.reporting - riders - r.w.opts.Concurrency; backlog > 0 {
		held += backlog
	}
	return r.w.opts.Concurrency - held
}

// prefetchLocked: how many leased tasks may wait for a slot now (WorkerOptions.Prefetch).
func (r *run) prefetchLocked() int {
	switch p := r.w.opts.Prefetch; {
	case p < 0:
		return 0
	case p > 0:
		return p
	}
	return r.pace.prefetch(r.w.opts.Concurrency, r.w.opts.LeaseDuration)
}

func (r *run) handlersRunning() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.handling
}

func (r *run) claimUntilDone(ctx context.Context) error {
	w := r.w
	w.log.Printf("worker %s started: queue %s, concurrency %d, lease %v",
		w.opts.WorkerID, w.opts.Queue, w.opts.Concurrency, w.opts.LeaseDuration)
	types := w.types()
	failures := 0
	var downSince time.Time // when the service stopped answering; zero while it answers
	for ctx.Err() == nil {
		free := r.free()
		if free <= 0 {
			r.forgetPokes() // wake-ups from before this count say nothing new
			if free = r.free(); free <= 0 {
				select {
				case <-r.slotFreed:
					r.settle()
				case <-ctx.Done():
				}
				continue
			}
		}
		requestID, err := randomID()
		if err != nil {
			return err
		}
		// Results waiting for the report in flight go with this request (none when no
		// report is in flight). A report answered since free was counted may have taken
		// some first; the claim stays as counted (the backlog's bound is loose by a batch).
		rides := r.reporter.take()
		if f := r.freeCarrying(len(rides)); f > free {
			free = f
		}
		sent := time.Now()
		body := leaseBody{
			Queue: w.opts.Queue, WorkerID: w.opts.WorkerID, Types: types, MaxTasks: free,
			LeaseSeconds: w.opts.LeaseDuration.Seconds(), WaitSeconds: w.opts.PollWait.Seconds(),
			RequestID: requestID,
		}
		if len(rides) > 0 {
			body.Results = make([]outcome, len(rides))
			for i, rep := range rides {
				body.Results[i] = rep.outcome
			}
			// The service does not wait with results anyway; asking for no wait keeps them
			// from a long poll on a service that would.
			body.WaitSeconds = 0
		}
		answer, err := w.client.lease(ctx, body)
		grants, waited := answer.Leases, seconds(answer.WaitedSeconds)
		if len(rides) > 0 {
			r.answerRides(rides, answer.Results, err)
		}
		if err != nil && ctx.Err() != nil {
			// Stopped while the request was in flight: it was withdrawn (ADR 32).
			r.releaseUnstarted(r.withdraw(body), "the worker is shutting down")
			return nil
		}
		if err != nil {
			if isConfigError(err) {
				return err
			}
			failures++
			pause := claimBackoff.pause(failures)
			switch {
			case !errors.Is(err, ErrUnavailable):
				w.log.Printf("leasing failed, trying again in %v: %v", pause.Round(time.Millisecond), err)
			case downSince.IsZero(): // once per outage, not once per attempt
				downSince = time.Now()
				w.log.Printf("service unreachable (%v); trying until it answers", err)
			}
			sleep(ctx, pause)
			continue
		}
		failures = 0
		if !downSince.IsZero() {
			w.log.Printf("service reachable again (after %v)", time.Since(downSince).Round(100*time.Millisecond))
			downSince = time.Time{}
		}
		if ctx.Err() != nil {
			r.releaseUnstarted(grants, "the worker is shutting down")
			return nil
		}
		if len(grants) > free { // never more than asked
			r.releaseUnstarted(grants[free:], "more tasks were granted than asked for")
			grants = grants[:free]
		}
		// Each lease is counted from the grant: sent plus the time the request waited at
		// the service (a long poll may wait longer than a lease; counted from sent alone,
		// the task would be stopped at once and left to expire).
		if r.place(grants, sent.Add(waited)) > 0 {
			r.settle() // short handlers end at once: ask for their slots too, in one request
		}
		if len(grants) == 0 && w.opts.PollWait == 0 {
			sleep(ctx, claimBackoff.pause(3))
		}
	}
	return nil
}

// answerRides tells the results that rode on a lease request their answers. When the
// request failed (after its re-sends) or was withdrawn, or the answer lacks theirs,
// they go to the reporter: a re-send of a result the service applied is answered with
// its first answer (ADR 21), so whether it arrived does not matter.
func (r *run) answerRides(rides []report, answers []resultAnswer, err error) {
	switch {
	case err == nil && len(answers) == len(rides):
		deliver(rides, answers, nil)
		return
	case err == nil:
		// A service without results on lease requests ignores them: report them
		// separately from now on.
		r.w.log.Printf("the lease request's answer carried %d answers for its %d results; "+
			"reporting results separately from now on", len(answers), len(rides))
		r.reporter.stopRiding()
	}
	r.reporter.submit(rides...)
}

// withdraw asks again, as a repeat that does not wait, for what a lease request cut off
// at stop was granted: the service undoes a waiting long poll's grants when its client
// goes (ADR 19), but not those of an answer already on the wire, which a repeat returns
// (ADR 21). A repeat that finds none claims afresh; those are released with the rest.
// The repeat carries no results: the request's were handed to the reporter.
func (r *run) withdraw(body leaseBody) []grant {
	ctx, cancel := context.WithTimeout(r.values, withdrawTimeout)
	defer cancel()
	body.Repeat, body.WaitSeconds, body.Results = true, 0, nil
	answer, err := r.w.client.lease(ctx, body)
	grants := answer.Leases
	if err != nil {
		r.w.log.Printf("could not collect the withdrawn lease request's grants: %v", err)
		return nil
	}
	if len(grants) > 0 {
		r.w.log.Printf("withdrew the lease request in flight; releasing its %d tasks", len(grants))
	} else {
		r.w.log.Printf("withdrew the lease request in flight")
	}
	return grants
}

// isConfigError: failures that trying again will not mend.
func isConfigError(err error) bool {
	return errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrForbidden) || errors.Is(err, ErrValidation)
}

// waitingTask is a leased task waiting for a slot (the prefetch).
type waitingTask struct {
	g       grant
	fn      HandlerFunc
	granted time.Time // its lease's clock runs from here, waiting or not
}

// staleAt: when a waiting task has waited too long to start. Its lease runs from the
// grant and it sends no heartbeats while it waits: past half the lease, it would start
// with little left, or with a lease that may have run out.
func (r *run) staleAt(t waitingTask) time.Time { return t.granted.Add(r.w.opts.LeaseDuration / 2) }

// place starts the grants that find a free slot (however late in their lease: a long
// poll may answer late), puts the next ones in the buffer up to the room left for the
// prefetch, and gives back the rest unrun. It answers how many started.
func (r *run) place(grants []grant, granted time.Time) (started int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	room := r.w.opts.Concurrency + r.prefetchLocked() - r.handling - len(r.waiting)
	for _, g := range grants {
		t := waitingTask{g, r.w.handlers[typeVersion{g.Type, g.TypeVersion}], granted}
		switch {
		case t.fn == nil: // the service granted a type we did not ask for
			r.releaseUnstarted([]grant{g}, "no handler for this type and version")
			continue
		case r.handling < r.w.opts.Concurrency:
			r.startLocked(t)
			started++
		case room > 0 && r.stoppedAt.IsZero():
			r.waiting = append(r.waiting, t)
		default:
			r.giveBackLocked(g, "the worker has no slot for it")
			continue
		}
		room--
	}
	r.watchWaitingLocked()
	return started
}

func (r *run) startLocked(t waitingTask) {
	e := newExecution(r, t.g, t.fn, t.granted)
	r.handling++
	r.executions[e] = struct{}{}
	r.wg.Add(1)
	go e.run()
}

// startWaitingLocked starts the oldest waiting tasks while slots are free; a stale one
// is given back instead, never started. (None waits once the worker is stopping: the
// stop empties the buffer, and place adds none after it.)
func (r *run) startWaitingLocked() {
	now := time.Now()
	for len(r.waiting) > 0 && r.handling < r.w.opts.Concurrency {
		t := r.waiting[0]
		r.waiting = r.waiting[1:]
		if now.Before(r.staleAt(t)) {
			r.startLocked(t)
		} else {
			r.giveBackLocked(t.g, waitedTooLong)
		}
	}
	r.watchWaitingLocked()
}

// watchWaitingLocked arms the one timer, for the oldest waiting task to go stale.
func (r *run) watchWaitingLocked() {
	switch {
	case len(r.waiting) == 0:
		if r.stale != nil {
			r.stale.Stop()
		}
	case r.stale == nil:
		r.stale = time.AfterFunc(time.Until(r.staleAt(r.waiting[0])), r.giveBackStale)
	default:
		r.stale.Reset(time.Until(r.staleAt(r.waiting[0])))
	}
}

// giveBackStale: the stale timer. A fire that a re-arm overtook finds nothing stale.
func (r *run) giveBackStale() {
	r.mu.Lock()
	now, stale := time.Now(), 0
	for ; len(r.waiting) > 0 && !now.Before(r.staleAt(r.waiting[0])); stale++ {
		r.giveBackLocked(r.waiting[0].g, waitedTooLong)
		r.waiting = r.waiting[1:]
	}
	r.watchWaitingLocked()
	r.mu.Unlock()
	if stale > 0 {
		r.poke() // room to lease again
	}
}

// takeWaitingLocked empties the buffer (at shutdown).
func (r *run) takeWaitingLocked() []grant {
	grants := make([]grant, len(r.waiting))
	for i, t := range r.waiting {
		grants[i] = t.g
	}
	r.waiting = nil
	r.watchWaitingLocked()
	return grants
}

// giveBackLocked releases a leased task the worker will not run, saying so: a worker
// that gives back tasks often prefetches behind handlers too slow for it. (Under r.mu,
// so that shutdown's wait for the releases cannot begin before this one is counted.)
func (r *run) giveBackLocked(g grant, why string) {
	r.w.log.Printf("giving task %s back unrun: %s", g.TaskID, why)
	r.releaseUnstarted([]grant{g}, why)
}

// slotDone: the execution no longer holds a slot, which starts the oldest waiting task.
// rep, if not nil, is its result, for the reporter (from which the next lease request
// may take it, see reporter.take). ran is how long its handler ran, for the automatic
// prefetch: until it returned, or until it was stopped (a lost lease, the shutdown),
// since it took at least that long.
func (r *run) slotDone(rep *report, ran time.Duration) {
	r.mu.Lock()
	r.pace.ran(ran)
	r.handling--
	if rep != nil {
		r.reporting++
	}
	if len(r.waiting) > 0 {
		r.startWaitingLocked()
	}
	r.mu.Unlock()
	if rep != nil {
		r.reporter.submit(*rep)
	}
	r.poke()
}

func (r *run) reportAnswered() {
	r.mu.Lock()
	r.reporting--
	r.mu.Unlock()
	r.poke()
}

func (r *run) executionEnded(e *execution) {
	r.mu.Lock()
	delete(r.executions, e)
	r.mu.Unlock()
	r.wg.Done()
}

func (r *run) forgetPokes() {
	select {
	case <-r.slotFreed:
	default:
	}
}

// settle lets the rest of a wave of handlers finish before the next lease request: they
// finish together, and a request for many tasks costs the service about what one for a
// single task does. It waits while slots keep freeing, until none has freed for
// waveQuiet (or all slots are free, or waveMax has passed).
func (r *run) settle() {
	quiet := time.NewTimer(waveQuiet)
	defer quiet.Stop()
	longest := time.Now().Add(waveMax)
	for r.freeSlots() < r.w.opts.Concurrency && time.Now().Before(longest) {
		select {
		case <-r.slotFreed:
			resetTimer(quiet, waveQuiet)
		case <-quiet.C:
			return
		}
	}
}

func (r *run) poke() {
	select {
	case r.slotFreed <- struct{}{}:
	default:
	}
}

// releaseUnstarted gives back tasks granted but not run; the attempt is not spent.
func (r *run) releaseUnstarted(grants []grant, why string) {
	for _, g := range grants {
		g := g
		r.releases.Add(1)
		go func() {
			defer r.releases.Done()
			ctx, cancel := context.WithTimeout(r.values, 30*time.Second)
			defer cancel()
			if err := r.w.client.release(ctx, g.TaskID, g.Token); err != nil {
				r.w.log.Printf("task %s: could not give it back unrun (%s): %v", g.TaskID, why, err)
			}
		}()
	}
}

// shutdown waits ShutdownGrace (from when Run's ctx was done) for running handlers,
// stops the rest (their tasks are released once they return), then sends the results
// still waiting.
func (r *run) shutdown() {
	close(r.ended)
	<-r.stopping
	r.mu.Lock()
	graceEnds := r.stoppedAt.Add(r.w.opts.ShutdownGrace)
	running := len(r.executions)
	r.mu.Unlock()
	allDone := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(allDone)
	}()
	if running > 0 {
		r.w.log.Printf("waiting up to %v for %d running tasks", time.Until(graceEnds).Round(time.Millisecond), running)
	}
	timer := time.NewTimer(time.Until(graceEnds))
	defer timer.Stop()
	select {
	case <-allDone:
	case <-r.hurry:
		r.w.log.Printf("stopping now: releasing %d running tasks", running)
		r.abandonAll()
		<-allDone
	case <-timer.C:
		r.abandonAll()
		<-allDone
	}
	r.reporter.close()
	r.releases.Wait()
	r.w.log.Printf("worker %s stopped", r.w.opts.WorkerID)
}

// abandonAll cancels every running handler; each releases its task once it returns.
func (r *run) abandonAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for e := range r.executions {
		e.abandon()
	}
}
