package leaseq

import (
	"context"
	"testing"
	"time"
)

// Results ride on the next lease request when it goes out because of them (run.slotDone):
// these tests use the fake service; service_rides_test.go has the live ones.

func TestAResultThatFreesTheAwaitedSlotRidesOnTheNextLeaseRequest(t *testing.T) {
	f := newFakeService(t, fakeGrant(1, "job"), fakeGrant(2, "job"), fakeGrant(3, "job"))
	w := NewWorker(f.client(t), WorkerOptions{Queue: "q", Concurrency: 1, Logger: testLogger{t}})
	w.Handle("job", 1, func(ctx context.Context, job *Job) (any, error) {
		time.Sleep(10 * time.Millisecond)
		return nil, nil
	})
	runWorker(t, w)
	eventually(t, 5*time.Second, "three results", func() bool { _, _, r, _ := f.snapshot(); return len(r) == 3 })
	f.mu.Lock()
	rode := len(f.rode)
	f.mu.Unlock()
	if rode != 3 {
		t.Errorf("%d of 3 results rode on lease requests; the others were reported alone", rode)
	}
	leases, _, _, _ := f.snapshot()
	for _, l := range leases {
		if l.Results != nil && (l.WaitSeconds != 0 || len(l.Results) > maxReportBatch) {
			t.Errorf("a lease request carrying %d results asked to wait %gs", len(l.Results), l.WaitSeconds)
		}
	}
}

func TestResultsCarriedToAServiceThatIgnoresThemAreReportedSeparately(t *testing.T) {
	f := newFakeService(t, fakeGrant(1, "job"), fakeGrant(2, "job"), fakeGrant(3, "job"))
	f.rides = ignoreRides // as a service older than results on lease requests
	w := NewWorker(f.client(t), WorkerOptions{Queue: "q", Concurrency: 1, Logger: testLogger{t}})
	w.Handle("job", 1, func(ctx context.Context, job *Job) (any, error) {
		time.Sleep(10 * time.Millisecond)
		return nil, nil
	})
	runWorker(t, w)
	eventually(t, 5*time.Second, "three results", func() bool { _, _, r, _ := f.snapshot(); return len(r) == 3 })
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
	f := newFakeService(t, fakeGrant(1, "job"))
	f.rides = holdRides // the request carrying results is in flight until the stop
	w := NewWorker(f.client(t), WorkerOptions{Queue: "q", Concurrency: 1, Logger: testLogger{t}})
	w.Handle("job", 1, func(ctx context.Context, job *Job) (any, error) {
		time.Sleep(10 * time.Millisecond) // the loop waits for its slot by then
		return "done", nil
	})
	stop := runWorker(t, w)
	var carrier leaseBody
	eventually(t, 5*time.Second, "a lease request carrying the result", func() bool {
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
	if len(results) != 1 || results[0].TaskID != "task-1" || string(results[0].Result) != `"done"` {
		t.Errorf("results reported: %+v; want task-1's, by the reporter", results)
	}
	last := leases[len(leases)-1]
	if last.RequestID != carrier.RequestID || !last.Repeat || last.Results != nil {
		t.Errorf("the withdrawing repeat: %+v; want request %s, a repeat, no results", last, carrier.RequestID)
	}
}
