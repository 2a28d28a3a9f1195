package leaseq_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leaseq/leaseq/clients/go"
)

// The prefetch against the real service: which tasks a worker holds leased beyond its
// slots, and that it gives them back unrun at a stop and once they wait too long.

// leasedWhileAHandlerWaits runs tasks whose handlers take durations, then tasks whose
// handlers wait (as many as want has states beyond durations), with one slot; once the
// first waiting one runs, it waits until the tasks' states are want and stay so for
// 200 ms (the worker has leased what it will).
func leasedWhileAHandlerWaits(t *testing.T, prefetch int, durations []time.Duration, want []string) {
	t.Helper()
	svc := liveService(t)
	c, queue := newClient(t, svc.URL), queueName(t)
	w := leaseq.NewWorker(c, leaseq.WorkerOptions{Queue: queue, Concurrency: 1, Prefetch: prefetch, Logger: logLines{t}})
	started, gate := make(chan struct{}, len(want)), make(chan struct{})
	w.Handle("step", 1, func(ctx context.Context, job *leaseq.Job) (any, error) {
		var n int
		if err := job.Decode(&n); err != nil {
			return nil, leaseq.Fatal(err)
		}
		if n < len(durations) {
			time.Sleep(durations[n])
			return nil, nil
		}
		started <- struct{}{}
		<-gate
		return nil, nil
	})
	ids := make([]string, len(want))
	for n := range ids { // one at a time: leased in this order
		ref, err := c.Enqueue(context.Background(), leaseq.NewTask{Queue: queue, Type: "step", Payload: n})
		if err != nil {
			t.Fatal(err)
		}
		ids[n] = ref.ID
	}
	running(t, w)
	defer close(gate)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the first waiting handler did not start")
	}
	states := func() string {
		got := make([]string, len(ids))
		for i, id := range ids {
			task, err := c.Get(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			got[i] = task.State
		}
		return strings.Join(got, " ")
	}
	wanted, stable := strings.Join(want, " "), time.Time{}
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got := states()
		switch {
		case got != wanted:
			stable = time.Time{}
		case stable.IsZero():
			stable = time.Now()
		case time.Since(stable) >= 200*time.Millisecond:
			return
		}
		if time.Now().After(end) {
			t.Fatalf("states %s; want %s", got, wanted)
		}
	}
}

func TestByDefaultShortHandlersTurnThePrefetchOn(t *testing.T) {
	t.Parallel()
	// One runs; four wait for the slot holding their leases: handlers this short start
	// many within 50 ms, and one slot holds at most four (ADR 0039); the sixth is left.
	leasedWhileAHandlerWaits(t, 0, []time.Duration{0, 0},
		[]string{"succeeded", "succeeded", "leased", "leased", "leased", "leased", "leased", "pending"})
}

func TestByDefaultASlowHandlerTurnsThePrefetchOffAtOnce(t *testing.T) {
	t.Parallel()
	// The first, short, turns it on: the second lease request takes five (one slot, four
	// waiting). The second task, slower than 50 ms, turns it off: the four it leased run
	// in turn, and nothing more is leased.
	leasedWhileAHandlerWaits(t, 0, []time.Duration{0, 100 * time.Millisecond},
		[]string{"succeeded", "succeeded", "leased", "leased", "leased", "leased", "pending", "pending"})
}

func TestWithoutPrefetchNothingIsLeasedBeyondTheFreeSlots(t *testing.T) {
	t.Parallel()
	// Short handlers first: they would turn the automatic prefetch on.
	leasedWhileAHandlerWaits(t, -1, []time.Duration{0, 0},
		[]string{"succeeded", "succeeded", "leased", "pending", "pending"})
}

func TestPrefetchedTasksAreReleasedUnrunAtOnceOnShutdown(t *testing.T) {
	t.Parallel()
	svc := liveService(t)
	c, queue := newClient(t, svc.URL), queueName(t)
	w := leaseq.NewWorker(c, leaseq.WorkerOptions{
		Queue: queue, Concurrency: 1, Prefetch: 2, ShutdownGrace: 10 * time.Second, Logger: logLines{t},
	})
	var mu sync.Mutex
	var ran []string
	started, gate := make(chan struct{}, 3), make(chan struct{})
	w.Handle("step", 1, func(ctx context.Context, job *leaseq.Job) (any, error) {
		mu.Lock()
		ran = append(ran, job.ID)
		mu.Unlock()
		started <- struct{}{}
		<-gate
		return "done", nil
	})
	var ids []string
	for n := 0; n < 3; n++ {
		ref, err := c.Enqueue(context.Background(), leaseq.NewTask{Queue: queue, Type: "step", Payload: n})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ref.ID)
	}
	stateOf := func(id string) leaseq.Task {
		task, err := c.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return task
	}
	cancel, returned := startRun(t, w, 10*time.Second)
	<-started
	within(t, 5*time.Second, "the two beyond the slot leased", func() bool {
		return stateOf(ids[1]).State == "leased" && stateOf(ids[2]).State == "leased"
	})
	cancel()
	// Given back at once, not after the grace period the running handler is still in.
	within(t, 5*time.Second, "the waiting tasks given back", func() bool {
		return stateOf(ids[1]).State == "pending" && stateOf(ids[2]).State == "pending"
	})
	close(gate)
	if err := returned(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ran) != 1 || ran[0] != ids[0] {
		t.Errorf("ran %v; want only %s", ran, ids[0])
	}
	got := []string{}
	for _, id := range ids {
		task := stateOf(id)
		got = append(got, fmt.Sprintf("%s/%d", task.State, task.Attempts))
	}
	// The attempts of those given back are not spent.
	if want := "succeeded/1 pending/0 pending/0"; strings.Join(got, " ") != want {
		t.Errorf("states/attempts: %v; want %s", got, want)
	}
	for _, id := range ids[1:] {
		if history := transitions(t, c, id); history != "enqueued leased released" {
			t.Errorf("history of %s: %s", id, history)
		}
	}
}

func TestAPrefetchedTaskWhoseLeaseMayHaveRunOutIsNotRun(t *testing.T) {
	t.Parallel()
	// One slot, held longer than the lease: the task waiting behind it is given back at
	// half its lease, and only ever runs under a fresh lease, never the one it waited with.
	svc := liveService(t)
	c, queue := newClient(t, svc.URL), queueName(t)
	log := &keptLines{t: t}
	w := leaseq.NewWorker(c, leaseq.WorkerOptions{
		Queue: queue, Concurrency: 1, Prefetch: 1, LeaseDuration: time.Second, Logger: log,
	})
	type start struct {
		epoch int64
		left  time.Duration
	}
	var mu sync.Mutex
	starts := map[string][]start{}
	firstStarted, releaseFirst := make(chan struct{}), make(chan struct{})
	w.Handle("step", 1, func(ctx context.Context, job *leaseq.Job) (any, error) {
		mu.Lock()
		starts[job.ID] = append(starts[job.ID], start{job.Epoch, time.Until(job.Deadline())})
		mu.Unlock()
		var n int
		_ = job.Decode(&n)
		if n == 0 {
			close(firstStarted)
			<-releaseFirst
		}
		return n, nil
	})
	first, err := c.Enqueue(context.Background(), leaseq.NewTask{Queue: queue, Type: "step", Payload: 0})
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Enqueue(context.Background(), leaseq.NewTask{Queue: queue, Type: "step", Payload: 1, Priority: -1})
	if err != nil {
		t.Fatal(err)
	}
	running(t, w)
	<-firstStarted
	// Given back by its timer while the slot is still busy (it may be leased again since).
	within(t, 3*time.Second, "the waiting task given back", func() bool {
		return strings.Contains(transitions(t, c, second.ID), "leased released")
	})
	log.awaitLine(t, "giving task "+second.ID+" back unrun", "it waited too long for a slot")
	// The give-back made room to wait in: the claim loop, which had none, leases it again
	// while the slot is still busy.
	within(t, 3*time.Second, "the given-back task leased again", func() bool {
		task, err := c.Get(context.Background(), second.ID)
		return err == nil && task.Epoch >= 2
	})
	time.Sleep(time.Second) // the slot stays busy past the whole of the first lease it waited with
	close(releaseFirst)
	if task := waitFinished(t, c, first.ID); task.State != "succeeded" {
		t.Errorf("the first task: %s", task.State)
	}
	if task := waitFinished(t, c, second.ID); task.State != "succeeded" || task.Attempts != 1 {
		t.Errorf("the second task: %s after %d attempts; want succeeded, its attempt not spent by the give-back",
			task.State, task.Attempts)
	}
	mu.Lock()
	defer mu.Unlock()
	runs := starts[second.ID]
	if len(runs) != 1 || runs[0].epoch < 2 || runs[0].left < 400*time.Millisecond {
		t.Errorf("the second task's runs (epoch, lease left): %+v; want one, under a fresh lease with most of it left", runs)
	}
}
