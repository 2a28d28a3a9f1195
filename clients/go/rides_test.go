package leaseq

import (
	"context"
	"testing"
	"time"
)

// A result rides on the next lease request only when it would wait for the report in
// flight (reporter.take): these tests use the fake service; service_rides_test.go has
// the live ones.

// rodeCount: how many results lease requests carried to f and it applied.
func (f *fakeService) rodeCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.rode)
}

// stopAfterEveryResult stops the worker once f has applied tasks results and the worker
// has sent one more lease request: that one means the claim loop has had the answers of
// those before it, the last results' among them. A stop before it would withdraw the
// request that carries them, and they would be sent again (as a withdrawal's are, ADR 32).
func stopAfterEveryResult(t *testing.T, f *fakeService, tasks int, stop func() error) {
	t.Helper()
	var asked int // lease requests by the time every result was applied
	eventually(t, 5*time.Second, "every result", func() bool {
		l, _, r, _ := f.snapshot()
		asked = len(l)
		return len(r) >= tasks
	})
	eventually(t, 5*time.Second, "a lease request after the last result", func() bool {
		l, _, _, _ := f.snapshot()
		return len(l) > asked
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// sentOnce fails unless f got exactly want results, one per task.
func sentOnce(t *testing.T, f *fakeService, want int) {
	t.Helper()
	_, _, results, _ := f.snapshot()
	seen := map[string]bool{}
	for _, o := range results {
		if seen[o.TaskID] {
			t.Errorf("task %s's result was sent twice", o.TaskID)
		}
		seen[o.TaskID] = true
	}
	if len(results) != want {
		t.Errorf("%d results sent; want %d", len(results), want)
	}
}

func TestResultsFinishingBehindAReportInFlightRideOnTheNextLeaseRequest(t *testing.T) {
	const tasks = 12
	grants := make([]grant, tasks)
	for i := range grants {
		grants[i] = fakeGrant(i, "job")
	}
	f := newFakeService(t, grants...)
	f.slowReports = 200 * time.Millisecond // a task takes 5 ms: nearly all finish behind one
	w := NewWorker(f.client(t), WorkerOptions{Queue: "q", Concurrency: 2, Logger: testLogger{t}})
	w.Handle("job", 1, func(ctx context.Context, job *Job) (any, error) {
		time.Sleep(5 * time.Millisecond)
		return nil, nil
	})
	stopAfterEveryResult(t, f, tasks, runWorker(t, w))
	sentOnce(t, f, tasks)
	// The first wave's results find no report in flight and go alone; the rest ride (the
	// claim is not held back by them though their report is unanswered).
	rode := f.rodeCount()
	t.Logf("%d of %d results rode", rode, tasks)
	if rode < tasks-4 {
		t.Errorf("%d of %d results rode on lease requests; want all but the first wave's", rode, tasks)
	}
	leases, _, _, _ := f.snapshot()
	for _, l := range leases {
		if l.Results != nil && (l.WaitSeconds != 0 || len(l.Results) > maxReportBatch) {
			t.Errorf("a lease request carrying %d results asked to wait %gs", len(l.Results), l.WaitSeconds)
		}
	}
}

func TestALoneResultIsReportedAtOnceAndRidesOnNothing(t *testing.T) {
	f := newFakeService(t, fakeGrant(1, "job"))
	// Its slot is the only one: the loop sends a lease request as soon as it frees, but
	// with no report in flight the result does not wait for one.
	w := NewWorker(f.client(t), WorkerOptions{Queue: "q", Concurrency: 1, Logger: testLogger{t}})
	w.Handle("job", 1, func(ctx context.Context, job *Job) (any, error) {
		time.Sleep(10 * time.Millisecond)
		return nil, nil
	})
	stop := runWorker(t, w)
	eventually(t, 5*time.Second, "the result", func() bool { _, _, r, _ := f.snapshot(); return len(r) == 1 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	sentOnce(t, f, 1)
	leases, _, _, _ := f.snapshot()
	for _, l := range leases {
		if l.Results != nil {
			t.Errorf("a lease request carried %d results; want the result reported alone", len(l.Results))
		}
	}
}

func TestResultsCarriedToAServiceThatIgnoresThemAreReportedSeparately(t *testing.T) {
	const tasks = 6
	grants := make([]grant, tasks)
	for i := range grants {
		grants[i] = fakeGrant(i, "job")
	}
	f := newFakeService(t, grants...)
	f.rides = ignoreRides // as a service older than results on lease requests
	f.slowReports = 200 * time.Millisecond
	w := NewWorker(f.client(t), WorkerOptions{Queue: "q", Concurrency: 1, Logger: testLogger{t}})
	w.Handle("job", 1, func(ctx context.Context, job *Job) (any, error) {
		time.Sleep(10 * time.Millisecond)
		return nil, nil
	})
	stopAfterEveryResult(t, f, tasks, runWorker(t, w))
	sentOnce(t, f, tasks)
	leases, _, _, _ := f.snapshot()
	carrying := 0
	for _, l := range leases {
		if l.Results != nil {
			carrying++
		}
	}
	if carrying != 1 {
		t.Errorf("%d lease requests carried results; want 1, then none once unanswered", carrying)
	}
}

func TestAStopWithdrawsALeaseRequestCarryingResultsAndTheReporterSendsThem(t *testing.T) {
	f := newFakeService(t, fakeGrant(1, "job"), fakeGrant(2, "job"))
	f.rides = holdRides // the request carrying results is in flight until the stop
	f.slowReports = 300 * time.Millisecond
	w := NewWorker(f.client(t), WorkerOptions{Queue: "q", Concurrency: 1, Logger: testLogger{t}})
	w.Handle("job", 1, func(ctx context.Context, job *Job) (any, error) {
		time.Sleep(10 * time.Millisecond)
		return job.ID, nil
	})
	stop := runWorker(t, w)
	// task-1's result is reported alone (300 ms); task-2's finishes behind it and rides.
	var carrier leaseBody
	eventually(t, 5*time.Second, "a lease request carrying a result", func() bool {
		leases, _, _, _ := f.snapshot()
		for _, l := range leases {
			if l.Results != nil {
				carrier = l
				return true
			}
		}
		return false
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	leases, _, results, _ := f.snapshot()
	if len(results) != 2 || results[1].TaskID != "task-2" || string(results[1].Result) != `"task-2"` {
		t.Errorf("results reported: %+v; want task-1's, then task-2's by the reporter", results)
	}
	if len(carrier.Results) != 1 || carrier.Results[0].TaskID != "task-2" {
		t.Errorf("the carrying request's results: %+v; want task-2's", carrier.Results)
	}
	last := leases[len(leases)-1]
	if last.RequestID != carrier.RequestID || !last.Repeat || last.Results != nil {
		t.Errorf("the withdrawing repeat: %+v; want request %s, a repeat, no results", last, carrier.RequestID)
	}
}

func TestTheReporterGivesResultsToALeaseRequestOnlyWhileAReportIsInFlight(t *testing.T) {
	f := newFakeService(t)
	f.slowReports = 300 * time.Millisecond
	gate := make(chan struct{}) // holds the reporter before its first send
	r := newReporter(f.client(t), testLogger{t}, func() int { <-gate; return 0 })
	answers := make(chan string, 2)
	result := func(id string) report {
		return report{
			outcome:  outcome{TaskID: id, Token: "t", Outcome: "complete"},
			deadline: time.Now().Add(time.Minute),
			answered: func(state string, err error) { answers <- id },
		}
	}
	// No report in flight: the result is the reporter's to send at once, not a rider.
	r.submit(result("first"))
	if n, got := r.riders(), r.take(); n != 0 || len(got) != 0 {
		t.Errorf("with no report in flight: %d riders, took %d; want none", n, len(got))
	}
	close(gate)
	eventually(t, 5*time.Second, "the first report", func() bool { _, _, res, _ := f.snapshot(); return len(res) == 1 })
	// Its answer takes 300 ms: a result finishing now would wait for it, so it rides.
	r.submit(result("second"))
	n, got := r.riders(), r.take()
	if n != 1 || len(got) != 1 || got[0].outcome.TaskID != "second" {
		t.Errorf("behind a report in flight: %d riders, took %+v; want the second result", n, got)
	}
	r.close()
	if _, _, res, _ := f.snapshot(); len(res) != 1 {
		t.Errorf("the reporter sent %d results; want the first only (the second was taken)", len(res))
	}
	if id := <-answers; id != "first" {
		t.Errorf("answered %s; want first", id)
	}
}
