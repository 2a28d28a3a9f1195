package leaseq

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func runWorker(t *testing.T, w *Worker) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("Run did not return after its ctx was cancelled")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func TestWithoutPrefetchTheWorkerAsksForNoMoreTasksThanItHasFreeSlots(t *testing.T) {
	grants := make([]grant, 7)
	for i := range grants {
		grants[i] = fakeGrant(i, "job")
	}
	f := newFakeService(t, grants...)
	// (Its quick handlers would turn the automatic prefetch on once they return.)
	w := NewWorker(f.client(t), WorkerOptions{Queue: "q", Concurrency: 3, Prefetch: -1, PollWait: -1, Logger: testLogger{t}})
	release := make(chan struct{})
	var running, most int32
	w.Handle("job", 1, func(ctx context.Context, job *Job) (any, error) {
		now := atomic.AddInt32(&running, 1)
		for {
			old := atomic.LoadInt32(&most)
			if now <= old || atomic.CompareAndSwapInt32(&most, old, now) {
				break
			}
		}
		<-release
		atomic.AddInt32(&running, -1)
		return nil, nil
	})
	stop := runWorker(t, w)
	eventually(t, 5*time.Second, "three handlers running", func() bool { return atomic.LoadInt32(&running) == 3 })
	time.Sleep(50 * time.Millisecond) // a worker holding every slot sends no lease request
	leases, _, _, _ := f.snapshot()
	if len(leases) != 1 || leases[0].MaxTasks != 3 {
		t.Fatalf("lease requests while full: %+v", leases)
	}
	close(release)
	eventually(t, 5*time.Second, "seven results", func() bool { _, _, r, _ := f.snapshot(); return len(r) == 7 })
	_ = stop()
	leases, _, _, _ = f.snapshot()
	for _, l := range leases {
		if l.MaxTasks < 1 || l.MaxTasks > 3 {
			t.Errorf("a lease request asked for %d tasks with 3 slots", l.MaxTasks)
		}
		if len(l.Types) != 1 || l.Types[0] != (typeBody{"job", 1}) {
			t.Errorf("a lease request asked for types %+v", l.Types)
		}
	}
	if most != 3 {
		t.Errorf("at most %d handlers ran at once, want 3", most)
	}
}

func TestHandlerOutcomesBecomeTheirReports(t *testing.T) {
	f := newFakeService(t, fakeGrant(1, "ok"), fakeGrant(2, "retry"), fakeGrant(3, "fatal"),
		fakeGrant(4, "error"), fakeGrant(5, "panic"))
	w := NewWorker(f.client(t), WorkerOptions{Queue: "q", PollWait: -1, Logger: testLogger{t}})
	w.Handle("ok", 1, func(ctx context.Context, job *Job) (any, error) {
		return map[string]int64{"epoch": job.Epoch}, nil
	})
	w.Handle("retry", 1, func(ctx context.Context, job *Job) (any, error) {
		return nil, fmt.Errorf("smtp 451: %w", Retry(1500*time.Millisecond))
	})
	w.Handle("fatal", 1, func(ctx context.Context, job *Job) (any, error) {
		return nil, Fatal(errors.New("bad address"))
	})
	w.Handle("error", 1, func(ctx context.Context, job *Job) (any, error) {
		return nil, errors.New("flaky")
	})
	w.Handle("panic", 1, func(ctx context.Context, job *Job) (any, error) {
		panic("boom")
	})
	stop := runWorker(t, w)
	eventually(t, 5*time.Second, "five results", func() bool { _, _, r, _ := f.snapshot(); return len(r) == 5 })
	_ = stop()
	_, _, results, _ := f.snapshot()
	by := map[string]outcome{}
	for _, r := range results {
		by[r.TaskID] = r
	}
	if o := by["task-1"]; o.Outcome != "complete" || string(o.Result) != `{"epoch":1}` || o.Token != "token-1" {
		t.Errorf("ok: %+v", o)
	}
	if o := by["task-2"]; o.Outcome != "retry" || o.DelaySeconds == nil || *o.DelaySeconds != 1.5 ||
		o.Error != "smtp 451: retry requested (after 1.5s)" {
		t.Errorf("retry: %+v", o)
	}
	if o := by["task-3"]; o.Outcome != "fail" || o.Error != "bad address" {
		t.Errorf("fatal: %+v", o)
	}
	if o := by["task-4"]; o.Outcome != "retry" || o.DelaySeconds != nil || o.Error != "flaky" {
		t.Errorf("error: %+v", o)
	}
	if o := by["task-5"]; o.Outcome != "retry" || o.DelaySeconds != nil || !strings.HasPrefix(o.Error, "panic: boom") ||
		!strings.Contains(o.Error, "worker_test.go") {
		t.Errorf("panic: %+v", o)
	}
}

func TestARefusedHeartbeatCancelsTheHandlerWhichReportsNothing(t *testing.T) {
	for _, tc := range []struct {
		code  string
		cause error
	}{
		{"task_cancelled", ErrTaskCancelled},
		{"lease_lost", ErrLeaseLost},
		{"lease_expired", ErrLeaseExpired},
	} {
		t.Run(tc.code, func(t *testing.T) {
			f := newFakeService(t, fakeGrant(1, "slow"))
			f.beat = func(id string) (int, string) {
				return 409, `{"type":"` + tc.code + `","title":"x","status":409,"detail":"refused"}`
			}
			w := NewWorker(f.client(t), WorkerOptions{
				Queue: "q", LeaseDuration: 1200 * time.Millisecond, PollWait: -1, Logger: testLogger{t},
			})
			causes := make(chan error, 1)
			w.Handle("slow", 1, func(ctx context.Context, job *Job) (any, error) {
				<-ctx.Done()
				causes <- Cause(ctx)
				return "done anyway", nil
			})
			stop := runWorker(t, w)
			select {
			case cause := <-causes:
				if cause != tc.cause {
					t.Fatalf("Cause = %v, want %v", cause, tc.cause)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the handler's ctx was not cancelled")
			}
			_ = stop()
			_, beats, results, released := f.snapshot()
			if len(beats) != 1 || len(results) != 0 || len(released) != 0 {
				t.Fatalf("beats %v, results %+v, released %v: want one beat and nothing else", beats, results, released)
			}
		})
	}
}

func TestUnansweredHeartbeatsStopTheHandlerAtTheLeaseDeadline(t *testing.T) {
	f := newFakeService(t, fakeGrant(1, "slow"))
	f.beat = func(id string) (int, string) {
		return 503, `{"type":"store_unavailable","title":"Store unavailable","status":503,"detail":"down"}`
	}
	w := NewWorker(f.client(t), WorkerOptions{
		Queue: "q", LeaseDuration: 1200 * time.Millisecond, PollWait: -1, Logger: testLogger{t},
	})
	type stopped struct {
		cause error
		at    time.Time
	}
	ends := make(chan stopped, 1)
	started := time.Now()
	w.Handle("slow", 1, func(ctx context.Context, job *Job) (any, error) {
		<-ctx.Done()
		ends <- stopped{Cause(ctx), time.Now()}
		return nil, nil
	})
	stop := runWorker(t, w)
	var end stopped
	select {
	case end = <-ends:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler's ctx was not cancelled")
	}
	_ = stop()
	if end.cause != ErrLeaseExpired {
		t.Errorf("Cause = %v, want ErrLeaseExpired", end.cause)
	}
	if took := end.at.Sub(started); took < 1200*time.Millisecond || took > 2*time.Second {
		t.Errorf("stopped after %v, want about the 1.2 s lease", took)
	}
	_, beats, results, _ := f.snapshot()
	if len(beats) < 2 || len(results) != 0 {
		t.Errorf("beats %v (want retries within the lease), results %+v (want none)", beats, results)
	}
}

func TestHeartbeatsKeepASlowHandlersLease(t *testing.T) {
	f := newFakeService(t, fakeGrant(1, "slow"))
	w := NewWorker(f.client(t), WorkerOptions{
		Queue: "q", LeaseDuration: 1200 * time.Millisecond, PollWait: -1, Logger: testLogger{t},
	})
	w.Handle("slow", 1, func(ctx context.Context, job *Job) (any, error) {
		first := job.Deadline()
		select {
		case <-time.After(3 * time.Second):
		case <-ctx.Done():
			return nil, fmt.Errorf("stopped: %v", Cause(ctx))
		}
		if !job.Deadline().After(first.Add(time.Second)) {
			return nil, errors.New("the deadline was not extended")
		}
		return "slow but done", nil
	})
	stop := runWorker(t, w)
	eventually(t, 8*time.Second, "the result", func() bool { _, _, r, _ := f.snapshot(); return len(r) == 1 })
	_ = stop()
	_, beats, results, _ := f.snapshot()
	if results[0].Outcome != "complete" || len(beats) < 5 {
		t.Errorf("result %+v after %d beats; want complete after about 7", results[0], len(beats))
	}
}

func TestALostLeaseFreesItsSlotEvenIfTheHandlerIgnoresItsContext(t *testing.T) {
	f := newFakeService(t, fakeGrant(1, "stubborn"), fakeGrant(2, "stubborn"))
	f.beat = func(id string) (int, string) {
		return 409, `{"type":"lease_lost","title":"Lease lost","status":409,"detail":"gone"}`
	}
	w := NewWorker(f.client(t), WorkerOptions{
		Queue: "q", Concurrency: 1, LeaseDuration: 1200 * time.Millisecond, PollWait: -1, Logger: testLogger{t},
	})
	hold := make(chan struct{})
	defer close(hold)
	var started int32
	w.Handle("stubborn", 1, func(ctx context.Context, job *Job) (any, error) {
		atomic.AddInt32(&started, 1)
		<-hold // ignores ctx
		return nil, nil
	})
	runWorker(t, w)
	eventually(t, 5*time.Second, "the second task starting", func() bool { return atomic.LoadInt32(&started) == 2 })
}

func TestShutdownWaitsTheGraceThenCancelsAndReleases(t *testing.T) {
	f := newFakeService(t, fakeGrant(1, "quick"), fakeGrant(2, "endless"))
	w := NewWorker(f.client(t), WorkerOptions{
		Queue: "q", Concurrency: 2, ShutdownGrace: 300 * time.Millisecond, PollWait: -1, Logger: testLogger{t},
	})
	var running sync.WaitGroup
	running.Add(2)
	causes := make(chan error, 1)
	w.Handle("quick", 1, func(ctx context.Context, job *Job) (any, error) {
		running.Done()
		time.Sleep(100 * time.Millisecond) // finishes within the grace: reported
		return "quick", nil
	})
	w.Handle("endless", 1, func(ctx context.Context, job *Job) (any, error) {
		running.Done()
		<-ctx.Done()
		causes <- Cause(ctx)
		return "interrupted", nil
	})
	stop := runWorker(t, w)
	running.Wait()
	began := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	took := time.Since(began)
	if cause := <-causes; cause != ErrShutdown {
		t.Errorf("Cause = %v, want ErrShutdown", cause)
	}
	_, _, results, released := f.snapshot()
	if len(results) != 1 || results[0].TaskID != "task-1" || len(released) != 1 || released[0] != "task-2" {
		t.Errorf("results %+v, released %v; want task-1 reported and task-2 released", results, released)
	}
	if took < 300*time.Millisecond || took > 3*time.Second {
		t.Errorf("shutdown took %v, want the 300 ms grace and a little", took)
	}
}

func TestTheTraceparentLabelReachesTheHandlersContext(t *testing.T) {
	g := fakeGrant(1, "traced")
	g.Labels = map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	f := newFakeService(t, g, fakeGrant(2, "traced"))
	w := NewWorker(f.client(t), WorkerOptions{Queue: "q", PollWait: -1, Logger: testLogger{t}})
	seen := make(chan string, 2)
	w.Handle("traced", 1, func(ctx context.Context, job *Job) (any, error) {
		tp, _ := TraceParent(ctx)
		seen <- job.ID + "=" + tp
		return nil, nil
	})
	runWorker(t, w)
	got := map[string]bool{<-seen: true, <-seen: true}
	if !got["task-1=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"] || !got["task-2="] {
		t.Errorf("handlers saw %v", got)
	}
}

func TestRunRefusesAWorkerWithoutQueueOrHandlers(t *testing.T) {
	c, _ := NewClient("http://127.0.0.1:1")
	if err := NewWorker(c, WorkerOptions{}).Run(context.Background()); !errors.Is(err, ErrValidation) ||
		!strings.Contains(err.Error(), "Queue") {
		t.Errorf("no queue: %v", err)
	}
	if err := NewWorker(c, WorkerOptions{Queue: "q"}).Run(context.Background()); !errors.Is(err, ErrValidation) ||
		!strings.Contains(err.Error(), "Handle") {
		t.Errorf("no handlers: %v", err)
	}
}

func TestTheLongPollIsClampedToAThirdOfTheLease(t *testing.T) {
	for _, tc := range []struct{ asked, lease, want time.Duration }{
		{0, 30 * time.Second, 10 * time.Second},
		{0, 6 * time.Second, 2 * time.Second},
		{-1, 30 * time.Second, 0},
		{time.Minute, time.Hour, 20 * time.Second},
	} {
		if got := pollWait(tc.asked, tc.lease); got != tc.want {
			t.Errorf("pollWait(%v, %v) = %v, want %v", tc.asked, tc.lease, got, tc.want)
		}
	}
}
