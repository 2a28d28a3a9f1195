package leaseq_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leaseq/leaseq/clients/go"
)

// A result rides on the next lease request when it would wait for the report in flight,
// against the real service; a transport counts how each result travelled, and makes
// reports slow (slowReports) so that results finish behind one.

type sentLease struct {
	RequestID string            `json:"request_id"`
	Repeat    bool              `json:"repeat"`
	Wait      float64           `json:"wait_seconds"`
	Results   []json.RawMessage `json:"results"`
}

// routes counts the results sent by POST /v1/results and by lease requests, keeps the
// lease requests that carried results, and with dropRides loses the answers of those
// (after the service has applied them). Each report's answer arrives slowReports late.
type routes struct {
	inner       http.RoundTripper
	dropRides   bool
	slowReports time.Duration
	mu          sync.Mutex
	reported    int // results sent by POST /v1/results
	rode        int // results sent with lease requests
	carriers    []sentLease
}

func (r *routes) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != "POST" || (req.URL.Path != "/v1/results" && req.URL.Path != "/v1/leases") {
		return r.inner.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	var sent sentLease
	if err := json.Unmarshal(body, &sent); err != nil {
		return nil, err
	}
	r.mu.Lock()
	if req.URL.Path == "/v1/results" {
		r.reported += len(sent.Results)
	} else if sent.Results != nil {
		r.rode += len(sent.Results)
		r.carriers = append(r.carriers, sent)
	}
	drop := r.dropRides && req.URL.Path == "/v1/leases" && sent.Results != nil
	r.mu.Unlock()
	resp, err := r.inner.RoundTrip(req)
	if req.URL.Path == "/v1/results" {
		time.Sleep(r.slowReports)
	}
	if err == nil && drop {
		resp.Body.Close()
		return nil, errors.New("the answer was lost (planted)")
	}
	return resp, err
}

func (r *routes) counts() (reported, rode int, carriers []sentLease) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reported, r.rode, append([]sentLease(nil), r.carriers...)
}

// within polls cond until it holds, for up to d.
func within(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
	}
}

func routedClient(t *testing.T, url string, r *routes) *leaseq.Client {
	r.inner = http.DefaultTransport
	return newClient(t, url, leaseq.WithHTTPClient(&http.Client{Transport: r}))
}

func TestABusyWorkersResultsRideOnItsLeaseRequests(t *testing.T) {
	t.Parallel()
	svc := liveService(t)
	via := &routes{slowReports: 200 * time.Millisecond}
	c, queue := routedClient(t, svc.URL, via), queueName(t)
	const tasks, concurrency = 30, 2
	batch := make([]leaseq.NewTask, tasks)
	for i := range batch {
		batch[i] = leaseq.NewTask{Queue: queue, Type: "work", Payload: i}
	}
	refs, err := c.EnqueueBatch(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	w := leaseq.NewWorker(c, leaseq.WorkerOptions{Queue: queue, Concurrency: concurrency, Logger: logLines{t}})
	w.Handle("work", 1, func(ctx context.Context, job *leaseq.Job) (any, error) {
		time.Sleep(time.Duration(2+rand.Intn(8)) * time.Millisecond)
		return job.Attempt, nil
	})
	stop := running(t, w)
	for _, ref := range refs {
		if task := waitFinished(t, c, ref.ID); task.State != "succeeded" {
			t.Errorf("task %s: %s", ref.ID, task.State)
		}
	}
	if got := transitions(t, c, refs[0].ID); got != "enqueued leased completed" {
		t.Errorf("history: %s", got)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// A report's answer takes 200 ms, a task a few: a result that finds no report in
	// flight goes alone, and the many finishing behind it ride on the lease requests
	// meanwhile (not held back by the unanswered report). Each result is sent once.
	reported, rode, _ := via.counts()
	t.Logf("%d results rode, %d were reported alone", rode, reported)
	if reported+rode != tasks {
		t.Errorf("%d results sent (%d alone, %d riding); want each of the %d once", reported+rode, reported, rode, tasks)
	}
	if rode < tasks*2/3 {
		t.Errorf("%d of %d results rode on lease requests, %d were reported alone", rode, tasks, reported)
	}
}

func TestAResultIsSentAtOnceWhenNoReportIsInFlight(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		concurrency int
	}{
		// Its slot was the only one: a lease request goes out as soon as it frees, yet the
		// result does not wait for it.
		{"the freed slot was awaited", 1},
		// A slot was free: the loop is in a long poll when the task ends.
		{"the loop long-polls", 2},
	} {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			svc := liveService(t)
			via := &routes{}
			c, queue := routedClient(t, svc.URL, via), queueName(t)
			ref, err := c.Enqueue(context.Background(), leaseq.NewTask{Queue: queue, Type: "job"})
			if err != nil {
				t.Fatal(err)
			}
			w := leaseq.NewWorker(c, leaseq.WorkerOptions{
				Queue: queue, Concurrency: tc.concurrency, PollWait: 5 * time.Second, Logger: logLines{t},
			})
			returned := make(chan time.Time, 1)
			w.Handle("job", 1, func(ctx context.Context, job *leaseq.Job) (any, error) {
				time.Sleep(300 * time.Millisecond) // the loop waits (or polls) by now
				returned <- time.Now()
				return "done", nil
			})
			running(t, w)
			task := waitFinished(t, c, ref.ID)
			if took := time.Since(<-returned); task.State != "succeeded" || took > 1500*time.Millisecond {
				t.Errorf("task %s %v after its handler returned; want succeeded well within the 5 s poll", task.State, took)
			}
			if reported, rode, _ := via.counts(); rode != 0 || reported != 1 {
				t.Errorf("reported %d, rode %d; want it reported by itself", reported, rode)
			}
		})
	}
}

func TestTheAnswersOfRidingResultsAreLoggedAsTheReportersAre(t *testing.T) {
	t.Parallel()
	svc := liveService(t)
	// The first result is reported alone; its answer takes a second, and the other three
	// results (two tasks, two attempts each) finish behind it and ride.
	via := &routes{slowReports: time.Second}
	c, queue := routedClient(t, svc.URL, via), queueName(t)
	var refs []leaseq.TaskRef
	for i := 0; i < 2; i++ {
		ref, err := c.Enqueue(context.Background(), leaseq.NewTask{
			Queue: queue, Type: "flaky", MaxAttempts: 2, Payload: i,
			Retry: &leaseq.RetryPolicy{Base: 20 * time.Millisecond, Max: 50 * time.Millisecond},
		})
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
	}
	log := &keptLines{t: t}
	w := leaseq.NewWorker(c, leaseq.WorkerOptions{
		Queue: queue, Concurrency: 1, PollWait: 50 * time.Millisecond, Logger: log,
	})
	w.Handle("flaky", 1, func(ctx context.Context, job *leaseq.Job) (any, error) {
		time.Sleep(20 * time.Millisecond)
		return nil, errors.New("flaky\nmore detail")
	})
	running(t, w)
	for _, ref := range refs {
		if task := waitFinished(t, c, ref.ID); task.State != "dead" || task.Attempts != 2 {
			t.Errorf("task: %s after %d attempts", task.State, task.Attempts)
		}
		log.awaitLine(t, ref.ID+" (flaky v1, attempt 1,", "): to be retried (attempt 1 of 2 used): flaky")
		log.awaitLine(t, ref.ID+" (flaky v1, attempt 2,", "): dead-lettered: flaky")
	}
	if reported, rode, _ := via.counts(); rode != 3 || reported != 1 {
		t.Errorf("reported %d, rode %d; want the first reported alone, the others carried by lease requests", reported, rode)
	}
}

func TestResultsOfALeaseRequestThatFailedAreReportedOnceByTheReporter(t *testing.T) {
	t.Parallel()
	svc := liveService(t)
	// each try is applied, its answer lost; the first result goes alone (its answer slow),
	// the second finishes behind it and rides
	via := &routes{dropRides: true, slowReports: 300 * time.Millisecond}
	c, queue := routedClient(t, svc.URL, via), queueName(t)
	var refs []leaseq.TaskRef
	for i := 0; i < 2; i++ {
		ref, err := c.Enqueue(context.Background(), leaseq.NewTask{Queue: queue, Type: "doomed", Payload: i})
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
	}
	log := &keptLines{t: t}
	// No prefetch: with it, the next lease request would be long-polling while the second
	// handler runs, and its result could not ride.
	w := leaseq.NewWorker(c, leaseq.WorkerOptions{Queue: queue, Concurrency: 1, Prefetch: -1, Logger: log})
	w.Handle("doomed", 1, func(ctx context.Context, job *leaseq.Job) (any, error) {
		time.Sleep(20 * time.Millisecond)
		return nil, leaseq.Fatal(errors.New("bad address"))
	})
	stop := running(t, w)
	for _, ref := range refs {
		if task := waitFinished(t, c, ref.ID); task.State != "dead" || task.Attempts != 1 || task.LastError != "bad address" {
			t.Errorf("task: %s after %d attempts (%s)", task.State, task.Attempts, task.LastError)
		}
		log.awaitLine(t, ref.ID, "): dead-lettered: bad address")
	}
	// The lease request was sent again with the same result, then gave it to the
	// reporter, whose report of the applied result was answered as the first one was.
	// (Handed back while the first report is still in flight, it may ride again, on a
	// new request.)
	within(t, 5*time.Second, "the reporter's reports", func() bool {
		reported, _, _ := via.counts()
		return reported == 2
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	reported, _, carriers := via.counts()
	if reported != 2 {
		t.Errorf("%d results reported by POST /v1/results; want both, once each", reported)
	}
	if len(carriers) < 2 || carriers[1].RequestID != carriers[0].RequestID {
		t.Fatalf("lease requests carrying the result: %+v; want the first and its re-sends", carriers)
	}
	for i, sent := range carriers {
		again := i > 0 && sent.RequestID == carriers[i-1].RequestID
		if sent.Repeat != again || len(sent.Results) != 1 || !bytes.Equal(sent.Results[0], carriers[0].Results[0]) {
			t.Errorf("lease request %d: %+v; want the same result, a repeat when under the request id before", i, sent)
		}
	}
	for _, ref := range refs {
		if got := transitions(t, c, ref.ID); strings.Count(got, "leased") != 1 || strings.Count(got, " ") != 2 {
			t.Errorf("history: %s; want it leased and ended once", got)
		}
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	for _, line := range log.lines {
		if strings.Contains(line, "not accepted") {
			t.Errorf("a result was refused: %q", line)
		}
	}
}
