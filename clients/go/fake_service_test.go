package leaseq

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeService speaks the worker's half of API v1 from a script: it hands out the grants
// it is given, answers heartbeats with `beat`, and records every request.
type fakeService struct {
	t       *testing.T
	mu      sync.Mutex
	pending []grant
	leases  []leaseBody
	beats   []string  // task ids
	results []outcome // reported either way
	rode    []outcome // of those, the ones carried by lease requests
	release []string
	beat    func(id string) (int, string) // status and body; nil: 200
	// What it does with a lease request's results: applies them (0), ignores them as a
	// service older than results on lease requests would (ignoreRides), or keeps the
	// request until its client goes away (holdRides).
	rides       int
	slowReports time.Duration // how long each POST /v1/results waits for its answer
	// Lease requests after this many (not counting repeats) wait until their client
	// goes away: nothing is granted but by the first ones. 0: none waits.
	holdAfter int
	server    *httptest.Server
}

const (
	applyRides = iota
	ignoreRides
	holdRides
)

func newFakeService(t *testing.T, grants ...grant) *fakeService {
	f := &fakeService{t: t, pending: grants}
	f.server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.server.Close)
	return f
}

func fakeGrant(n int, taskType string) grant {
	return grant{
		TaskID: fmt.Sprintf("task-%d", n), Token: fmt.Sprintf("token-%d", n), Epoch: 1,
		Attempt: 1, MaxAttempts: 20, Queue: "q", Type: taskType, TypeVersion: 1,
		Payload: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n)), Labels: map[string]string{},
	}
}

func (f *fakeService) serve(w http.ResponseWriter, r *http.Request) {
	var body map[string]json.RawMessage
	_ = json.NewDecoder(r.Body).Decode(&body)
	w.Header().Set("Content-Type", "application/json")
	path := r.URL.Path
	switch {
	case path == "/v1/leases":
		var req leaseBody
		raw, _ := json.Marshal(body)
		_ = json.Unmarshal(raw, &req)
		f.mu.Lock()
		f.leases = append(f.leases, req)
		if f.holdAfter > 0 && !req.Repeat && f.firstTries() > f.holdAfter {
			f.mu.Unlock()
			<-r.Context().Done()
			return
		}
		rides := f.rides
		if req.Results == nil || rides == ignoreRides {
			req.Results = nil
		} else if rides == applyRides {
			f.results = append(f.results, req.Results...)
			f.rode = append(f.rode, req.Results...)
		} else {
			f.mu.Unlock()
			<-r.Context().Done()
			return
		}
		n := req.MaxTasks
		if n > len(f.pending) {
			n = len(f.pending)
		}
		granted := f.pending[:n]
		f.pending = f.pending[n:]
		f.mu.Unlock()
		if n == 0 && req.Results == nil { // a short long poll
			time.Sleep(20 * time.Millisecond)
		}
		for i := range granted {
			granted[i].ExpiresAt = time.Now().Add(seconds(req.LeaseSeconds))
		}
		_ = json.NewEncoder(w).Encode(leaseAnswer{Leases: granted, Results: answersTo(req.Results)})
	case strings.HasSuffix(path, "/heartbeat"):
		id := strings.Split(path, "/")[3]
		f.mu.Lock()
		f.beats = append(f.beats, id)
		beat := f.beat
		f.mu.Unlock()
		status, answer := 200, `{"task_id":"`+id+`","epoch":1,"expires_at":"2030-01-01T00:00:00+00:00"}`
		if beat != nil {
			status, answer = beat(id)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(answer))
	case path == "/v1/results":
		var req resultsBody
		raw, _ := json.Marshal(body)
		_ = json.Unmarshal(raw, &req)
		f.mu.Lock()
		f.results = append(f.results, req.Results...)
		slow := f.slowReports
		f.mu.Unlock()
		time.Sleep(slow)
		_ = json.NewEncoder(w).Encode(resultsAnswer{Results: answersTo(req.Results)})
	case strings.HasSuffix(path, "/release"):
		f.mu.Lock()
		f.release = append(f.release, strings.Split(path, "/")[3])
		f.mu.Unlock()
		_, _ = w.Write([]byte(`{}`))
	default:
		w.WriteHeader(404)
		_, _ = w.Write([]byte(`{"type":"not_found","title":"Not found","status":404,"detail":"no route"}`))
	}
}

// firstTries: how many lease requests arrived, not counting repeats (f.mu held).
func (f *fakeService) firstTries() (n int) {
	for _, l := range f.leases {
		if !l.Repeat {
			n++
		}
	}
	return n
}

// answersTo: each result accepted (nil for none, as the service leaves them out).
func answersTo(results []outcome) []resultAnswer {
	if results == nil {
		return nil
	}
	answers := make([]resultAnswer, len(results))
	for i, o := range results {
		state := "succeeded"
		if o.Outcome != "complete" {
			state = "pending"
		}
		answers[i] = resultAnswer{TaskID: o.TaskID, OK: true, State: state}
	}
	return answers
}

func (f *fakeService) snapshot() (leases []leaseBody, beats []string, results []outcome, released []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]leaseBody(nil), f.leases...), append([]string(nil), f.beats...),
		append([]outcome(nil), f.results...), append([]string(nil), f.release...)
}

func (f *fakeService) client(t *testing.T) *Client {
	c, err := NewClient(f.server.URL)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testLogger sends the worker's log lines to the test's log.
type testLogger struct{ t *testing.T }

func (l testLogger) Printf(format string, args ...any) { l.t.Logf(format, args...) }

// eventually polls cond until it holds or the time is up.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
