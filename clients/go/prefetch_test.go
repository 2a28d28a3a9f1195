package leaseq

import (
	"context"
	"sync"
	"testing"
	"time"
)

// The automatic prefetch's rule (handlerPace), then the buffer in a worker against the
// fake service; service_prefetch_test.go has the live tests.

const paceLease = 30 * time.Second

func paced(runs ...time.Duration) *handlerPace {
	p := &handlerPace{}
	for _, d := range runs {
		p.ran(d)
	}
	return p
}

func repeated(d time.Duration, n int) []time.Duration {
	runs := make([]time.Duration, n)
	for i := range runs {
		runs[i] = d
	}
	return runs
}

func TestNoPrefetchBeforeAHandlerHasEnded(t *testing.T) {
	if got := paced().prefetch(10, paceLease); got != 0 {
		t.Errorf("prefetch = %d with no run yet; want 0", got)
	}
}

func TestHandlersUpTo50msAreShort(t *testing.T) {
	for _, tc := range []struct {
		run  time.Duration
		want int
	}{{0, 40}, {50 * time.Millisecond, 10}, {51 * time.Millisecond, 0}, {2 * time.Second, 0}} {
		if got := paced(tc.run).prefetch(10, paceLease); got != tc.want {
			t.Errorf("after a run of %v: prefetch = %d, want %d", tc.run, got, tc.want)
		}
	}
}

func TestAsManyWaitAsTheSlotsStartWithin50ms(t *testing.T) {
	// Ten slots run 50 ms / run handlers each in 50 ms; at most 4 per slot (40).
	for _, tc := range []struct {
		run  time.Duration
		want int
	}{{50 * time.Millisecond, 10}, {40 * time.Millisecond, 12}, {25 * time.Millisecond, 20}, {20 * time.Millisecond, 25}, {10 * time.Millisecond, 40}} {
		if got := paced(tc.run).prefetch(10, paceLease); got != tc.want {
			t.Errorf("after a run of %v: prefetch = %d, want %d", tc.run, got, tc.want)
		}
	}
}

func TestTheMostIs4PerSlotAnd100InAllButNeverUnderTheConcurrency(t *testing.T) {
	for _, tc := range []struct{ concurrency, want int }{{1, 4}, {7, 28}, {25, 100}, {26, 100}, {50, 100}, {100, 100}, {500, 500}} {
		if got := paced(100*time.Microsecond).prefetch(tc.concurrency, paceLease); got != tc.want {
			t.Errorf("concurrency %d: prefetch = %d, want %d", tc.concurrency, got, tc.want)
		}
	}
}

func TestShortIsAlsoAtMostATwentiethOfTheLease(t *testing.T) {
	// 30 ms is short against a 1 s lease (50 ms: 10 slots start 16 more in it), not
	// against a 0.5 s one (25 ms).
	for _, tc := range []struct {
		lease time.Duration
		want  int
	}{{time.Second, 16}, {500 * time.Millisecond, 0}} {
		if got := paced(30*time.Millisecond).prefetch(10, tc.lease); got != tc.want {
			t.Errorf("lease %v: prefetch = %d, want %d", tc.lease, got, tc.want)
		}
	}
}

func TestOneSlowRunTurnsThePrefetchOffAtOnce(t *testing.T) {
	p := paced(repeated(time.Millisecond, 100)...)
	if got := p.prefetch(10, paceLease); got != 40 {
		t.Fatalf("after 100 short runs: prefetch = %d, want 40", got)
	}
	p.ran(200 * time.Millisecond)
	if got := p.prefetch(10, paceLease); got != 0 {
		t.Errorf("after one slow run: prefetch = %d, want 0", got)
	}
}

func TestShortRunsAfterASlowOneTurnThePrefetchBackOnGradually(t *testing.T) {
	// After 1 s, the estimate is 1 ms + 999 ms × 0.9ⁿ: above 50 ms until the 29th run.
	for _, tc := range []struct{ short, want int }{{10, 0}, {28, 0}, {29, 10}, {100, 40}} {
		p := paced(append([]time.Duration{time.Second}, repeated(time.Millisecond, tc.short)...)...)
		if got := p.prefetch(10, paceLease); got != tc.want {
			t.Errorf("1 s, then %d runs of 1 ms: prefetch = %d, want %d (estimate %v)", tc.short, got, tc.want, p.estimate)
		}
	}
}

func TestAShorterRunLowersTheEstimateATenthOfTheWay(t *testing.T) {
	p := paced(100 * time.Millisecond)
	for _, want := range []time.Duration{90 * time.Millisecond, 81 * time.Millisecond, 72900 * time.Microsecond} {
		p.ran(0)
		if diff := p.estimate - want; diff < -time.Microsecond || diff > time.Microsecond {
			t.Errorf("estimate = %v, want %v", p.estimate, want)
		}
	}
}

// startOf waits for the next handler to start and answers its task id.
func startOf(t *testing.T, started <-chan string) string {
	t.Helper()
	select {
	case id := <-started:
		return id
	case <-time.After(5 * time.Second):
		t.Fatal("no handler started")
		return ""
	}
}

func TestAFixedPrefetchHoldsTasksBeyondTheSlotsAndAFreedSlotStartsTheOldest(t *testing.T) {
	f := newFakeService(t, fakeGrant(0, "job"), fakeGrant(1, "job"), fakeGrant(2, "job"), fakeGrant(3, "job"))
	f.holdAfter = 1 // only the first lease request is answered: the others start from the buffer
	w := NewWorker(f.client(t), WorkerOptions{Queue: "q", Concurrency: 1, Prefetch: 2, PollWait: -1, Logger: testLogger{t}})
	started, proceed := make(chan string, 4), make(chan struct{})
	w.Handle("job", 1, func(ctx context.Context, job *Job) (any, error) {
		started <- job.ID
		<-proceed
		return nil, nil
	})
	stop := runWorker(t, w)
	if id := startOf(t, started); id != "task-0" {
		t.Fatalf("%s started first", id)
	}
	time.Sleep(50 * time.Millisecond) // a worker with its slot and its buffer full sends no lease request
	leases, _, _, released := f.snapshot()
	if len(leases) != 1 || leases[0].MaxTasks != 3 || len(started) != 0 || len(released) != 0 {
		t.Fatalf("lease requests %+v, %d more started, released %v: want one for 3, the two beyond the slot waiting",
			leases, len(started), released)
	}
	// Each freed slot starts the oldest waiting task, with no lease request answered.
	for _, want := range []string{"task-1", "task-2"} {
		proceed <- struct{}{}
		if id := startOf(t, started); id != want {
			t.Fatalf("%s started; want %s, the oldest waiting", id, want)
		}
	}
	proceed <- struct{}{}
	eventually(t, 5*time.Second, "three results", func() bool { _, _, r, _ := f.snapshot(); return len(r) == 3 })
	_, _, _, released = f.snapshot()
	if len(released) != 0 {
		t.Errorf("released %v before the stop; want none", released)
	}
	_ = stop()
}

func TestAWaitingTaskIsGivenBackUnrunOnceHalfItsLeaseHasPassed(t *testing.T) {
	f := newFakeService(t, fakeGrant(0, "job"), fakeGrant(1, "job"))
	log := &recordedLog{}
	w := NewWorker(f.client(t), WorkerOptions{
		Queue: "q", Concurrency: 1, Prefetch: 1, LeaseDuration: time.Second, PollWait: -1, Logger: log,
	})
	started, gate := make(chan string, 2), make(chan struct{})
	w.Handle("job", 1, func(ctx context.Context, job *Job) (any, error) {
		started <- job.ID
		if job.ID == "task-0" {
			<-gate
		}
		return nil, nil
	})
	stop := runWorker(t, w)
	if id := startOf(t, started); id != "task-0" {
		t.Fatalf("%s started first", id)
	}
	began := time.Now() // task-1 was granted with task-0, a moment before this
	eventually(t, 3*time.Second, "task-1 given back", func() bool {
		_, _, _, released := f.snapshot()
		return len(released) == 1 && released[0] == "task-1"
	})
	// By the timer, while the slot is still busy: not before half the lease, nor after it ran out.
	if waited := time.Since(began); waited < 400*time.Millisecond || waited > 900*time.Millisecond {
		t.Errorf("task-1 was given back %v after it was granted; want half its 1 s lease", waited)
	}
	close(gate)
	eventually(t, 5*time.Second, "task-0's result", func() bool { _, _, r, _ := f.snapshot(); return len(r) == 1 })
	_ = stop()
	if len(started) != 0 {
		t.Errorf("%s ran after waiting half its lease", <-started)
	}
	if !log.has("giving task task-1 back unrun: it waited too long for a slot") {
		t.Error("no log line for the task given back")
	}
}

func TestAWaitingTaskThatStartsAfterItsFirstRenewalWasDueRenewsAtOnce(t *testing.T) {
	// The lease clock starts at the grant: task-1 waits 1.2 s for the slot, past its first
	// renewal's due time (a third of its 3 s lease), so it is renewed as it starts.
	f := newFakeService(t, fakeGrant(0, "job"), fakeGrant(1, "job"))
	var mu sync.Mutex
	starts, beats := map[string]time.Time{}, map[string][]time.Time{}
	f.beat = func(id string) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		beats[id] = append(beats[id], time.Now())
		return 200, `{"task_id":"` + id + `","epoch":1,"expires_at":"2030-01-01T00:00:00+00:00"}`
	}
	w := NewWorker(f.client(t), WorkerOptions{
		Queue: "q", Concurrency: 1, Prefetch: 1, LeaseDuration: 3 * time.Second, PollWait: -1, Logger: testLogger{t},
	})
	w.Handle("job", 1, func(ctx context.Context, job *Job) (any, error) {
		mu.Lock()
		starts[job.ID] = time.Now()
		mu.Unlock()
		if job.ID == "task-0" {
			time.Sleep(1200 * time.Millisecond)
		} else {
			time.Sleep(600 * time.Millisecond) // shorter than a third of the lease
		}
		return nil, nil
	})
	stop := runWorker(t, w)
	eventually(t, 8*time.Second, "two results", func() bool { _, _, r, _ := f.snapshot(); return len(r) == 2 })
	_ = stop()
	mu.Lock()
	defer mu.Unlock()
	if waited := starts["task-1"].Sub(starts["task-0"]); waited < time.Second {
		t.Fatalf("task-1 started %v after task-0; want it to wait past its first renewal's due time", waited)
	}
	if b := beats["task-1"]; len(b) == 0 || b[0].Sub(starts["task-1"]) > 300*time.Millisecond {
		t.Errorf("task-1 started at %v, heartbeats at %v: want one at once", starts["task-1"], b)
	}
}

func TestALeaseRequestAsksForNoMoreThanTheServiceGrantsAtOnce(t *testing.T) {
	// 800 slots + 800 prefetched: a request for 1,600 would be refused as invalid, which
	// stops the worker.
	f := newFakeService(t, fakeGrant(0, "job"))
	w := NewWorker(f.client(t), WorkerOptions{Queue: "q", Concurrency: 800, Prefetch: 800, PollWait: -1, Logger: testLogger{t}})
	w.Handle("job", 1, func(ctx context.Context, job *Job) (any, error) { return nil, nil })
	stop := runWorker(t, w)
	eventually(t, 5*time.Second, "the result", func() bool { _, _, r, _ := f.snapshot(); return len(r) == 1 })
	_ = stop()
	leases, _, _, _ := f.snapshot()
	if leases[0].MaxTasks != maxClaim {
		t.Errorf("the first lease request asked for %d; want %d", leases[0].MaxTasks, maxClaim)
	}
}

func TestAHandlerStoppedByALostLeaseCountsAsTheTimeItRan(t *testing.T) {
	// Stopped at its first heartbeat (a third of its 1 s lease), the handler ran at least
	// that long: slow, so the automatic prefetch that a quick handler turned on goes off.
	f := newFakeService(t, fakeGrant(0, "quick"), fakeGrant(1, "lost"))
	f.beat = func(id string) (int, string) {
		return 409, `{"type":"lease_lost","title":"Lease lost","status":409,"detail":"gone"}`
	}
	w := NewWorker(f.client(t), WorkerOptions{
		Queue: "q", Concurrency: 1, LeaseDuration: time.Second, PollWait: 100 * time.Millisecond, Logger: testLogger{t},
	})
	w.Handle("quick", 1, func(ctx context.Context, job *Job) (any, error) { return nil, nil })
	lost := make(chan struct{})
	w.Handle("lost", 1, func(ctx context.Context, job *Job) (any, error) {
		<-ctx.Done()
		close(lost)
		return nil, nil
	})
	stop := runWorker(t, w)
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler was not stopped")
	}
	leases, _, _, _ := f.snapshot()
	before := len(leases) // (the last of these may have been counted before the slot freed)
	eventually(t, 5*time.Second, "three more lease requests", func() bool {
		leases, _, _, _ = f.snapshot()
		return len(leases) >= before+3
	})
	_ = stop()
	if leases[1].MaxTasks != 5 { // one slot, four waiting (ADR 0039)
		t.Fatalf("after the quick handler, a lease request asked for %d; want 5 (prefetch on)", leases[1].MaxTasks)
	}
	for _, l := range leases[before:] {
		if l.MaxTasks != 1 {
			t.Errorf("after the stopped handler, a lease request asked for %d; want 1 (prefetch off)", l.MaxTasks)
		}
	}
}

// stoppableRun is a run of w that no claim loop drives, for tests of the buffer alone;
// it is shut down (waiting for its releases) when the test ends.
func stoppableRun(t *testing.T, w *Worker) *run {
	ctx, cancel := context.WithCancel(context.Background())
	r := newRun(w, ctx)
	t.Cleanup(func() {
		cancel()
		r.shutdown()
	})
	return r
}

func TestAFreedSlotGivesBackAStaleWaitingTaskRatherThanStartIt(t *testing.T) {
	// The timer gives a waiting task back at half its lease; a timer that fires late
	// leaves it to the freed slot's own check. (No timer is armed here.)
	f := newFakeService(t)
	w := NewWorker(f.client(t), WorkerOptions{Queue: "q", Concurrency: 1, Prefetch: 1, LeaseDuration: time.Second, Logger: testLogger{t}})
	ran := make(chan string, 1)
	w.Handle("job", 1, func(ctx context.Context, job *Job) (any, error) {
		ran <- job.ID
		return nil, nil
	})
	r := stoppableRun(t, w)
	r.mu.Lock()
	r.handling = 1 // a handler holds the slot
	stale := time.Now().Add(-600 * time.Millisecond)
	r.waiting = []waitingTask{{fakeGrant(1, "job"), w.handlers[typeVersion{"job", 1}], stale}}
	r.mu.Unlock()
	r.slotDone(nil, 0) // … and returns
	r.releases.Wait()
	if _, _, _, released := f.snapshot(); len(released) != 1 || released[0] != "task-1" {
		t.Errorf("released %v; want task-1, given back", released)
	}
	select {
	case id := <-ran:
		t.Errorf("%s ran on a lease half gone", id)
	default:
	}
}

func TestGrantsAnsweredAfterTheStopDoNotWaitForASlot(t *testing.T) {
	// Run's ctx was done after the claim loop last looked: the buffer has been emptied
	// for good, so what cannot start now is given back, not kept.
	f := newFakeService(t)
	w := NewWorker(f.client(t), WorkerOptions{Queue: "q", Concurrency: 1, Prefetch: 1, Logger: testLogger{t}})
	w.Handle("job", 1, func(ctx context.Context, job *Job) (any, error) { return nil, nil })
	r := stoppableRun(t, w)
	r.mu.Lock()
	r.handling = 1 // a handler holds the slot
	r.stoppedAt = time.Now()
	r.mu.Unlock()
	if started := r.place([]grant{fakeGrant(1, "job")}, time.Now()); started != 0 {
		t.Fatalf("%d started with no free slot", started)
	}
	r.releases.Wait()
	r.mu.Lock()
	waiting := len(r.waiting)
	r.handling = 0
	r.mu.Unlock()
	if _, _, _, released := f.snapshot(); waiting != 0 || len(released) != 1 || released[0] != "task-1" {
		t.Errorf("%d waiting, released %v; want task-1 given back", waiting, released)
	}
}
