package leaseq

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a service that answers each request with the next scripted reply and
// records the bodies it read; "drop" closes the connection after reading the request.
type recorder struct {
	mu      sync.Mutex
	bodies  []map[string]any
	headers []http.Header
	replies []string // "drop", or "status body"
}

func (r *recorder) start(t *testing.T) *httptest.Server {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(req.Body).Decode(&body)
		r.mu.Lock()
		r.bodies = append(r.bodies, body)
		r.headers = append(r.headers, req.Header.Clone())
		reply := `200 {}`
		if len(r.replies) > 0 {
			reply, r.replies = r.replies[0], r.replies[1:]
		}
		r.mu.Unlock()
		if reply == "drop" {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		status, text, _ := strings.Cut(reply, " ")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(map[string]int{"200": 200, "201": 201, "404": 404, "409": 409, "422": 422, "502": 502, "503": 503}[status])
		_, _ = w.Write([]byte(text))
	}))
	t.Cleanup(server.Close)
	return server
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bodies)
}

func quickClient(t *testing.T, url string, opts ...Option) *Client {
	c, err := NewClient(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	c.retries.base = time.Millisecond // keep the re-send pauses short
	return c
}

const unavailable = `503 {"type":"store_unavailable","title":"Store unavailable","status":503,"detail":"db down"}`

func TestEnqueueSendsTheDocumentedBodyWithAnSDKIdempotencyKey(t *testing.T) {
	rec := &recorder{replies: []string{`201 {"tasks":[{"id":"t1","state":"pending","deduplicated":false}]}`}}
	c := quickClient(t, rec.start(t).URL, WithToken("s3cret"))
	runAt := time.Date(2030, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))
	ctx := WithTraceParent(context.Background(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	ref, err := c.Enqueue(ctx, NewTask{
		Queue: "emails", Type: "send_email", Version: 2, Payload: map[string]string{"to": "a@b.c"},
		Priority: 5, RunAt: runAt, MaxAttempts: 3, Labels: map[string]string{"tenant": "7"},
		Retry: &RetryPolicy{Base: 2 * time.Second},
	})
	if err != nil || ref != (TaskRef{ID: "t1", State: "pending"}) {
		t.Fatalf("Enqueue = %+v, %v", ref, err)
	}
	task := rec.bodies[0]["tasks"].([]any)[0].(map[string]any)
	key, _ := task["idempotency_key"].(string)
	if !strings.HasPrefix(key, "sdk:") || !strings.HasSuffix(key, ":0") || len(key) != len("sdk:")+22+len(":0") {
		t.Errorf("idempotency_key = %q", key)
	}
	delete(task, "idempotency_key")
	want := `{"labels":{"tenant":"7","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},` +
		`"max_attempts":3,"payload":{"to":"a@b.c"},"priority":5,"queue":"emails",` +
		`"retry":{"base_seconds":2},"run_at":"2030-01-02T03:04:05+01:00","type":"send_email","type_version":2}`
	if got, _ := json.Marshal(task); string(got) != want {
		t.Errorf("task body\n got %s\nwant %s", got, want)
	}
	if auth := rec.headers[0].Get("Authorization"); auth != "Bearer s3cret" {
		t.Errorf("Authorization = %q", auth)
	}
}

func TestAnEnqueueWhoseAnswerWasLostIsSentAgainWithTheSameKey(t *testing.T) {
	rec := &recorder{replies: []string{"drop", unavailable,
		`200 {"tasks":[{"id":"t1","state":"pending","deduplicated":true}]}`}}
	c := quickClient(t, rec.start(t).URL)
	ref, err := c.Enqueue(context.Background(), NewTask{Queue: "q", Type: "t", Delay: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if rec.count() != 3 {
		t.Fatalf("%d requests, want 3", rec.count())
	}
	keys := map[any]bool{}
	for _, body := range rec.bodies {
		task := body["tasks"].([]any)[0].(map[string]any)
		keys[task["idempotency_key"]] = true
		if task["delay_seconds"] != 1.5 {
			t.Errorf("delay_seconds = %v", task["delay_seconds"])
		}
	}
	if len(keys) != 1 {
		t.Errorf("the re-sends carried different keys: %v", keys)
	}
	if ref.Deduplicated {
		t.Error("the SDK's own re-send was reported as a duplicate")
	}
}

func TestACallersOwnKeyAnsweredAsDuplicateIsReportedSo(t *testing.T) {
	rec := &recorder{replies: []string{`200 {"tasks":[{"id":"t1","state":"leased","deduplicated":true}]}`}}
	c := quickClient(t, rec.start(t).URL)
	ref, err := c.Enqueue(context.Background(), NewTask{Queue: "q", Type: "t", IdempotencyKey: "welcome:42"})
	if err != nil || !ref.Deduplicated || rec.bodies[0]["tasks"].([]any)[0].(map[string]any)["idempotency_key"] != "welcome:42" {
		t.Errorf("Enqueue = %+v, %v; body %v", ref, err, rec.bodies[0])
	}
}

func TestCancelAndRequeueAreNotSentAgainOnceTheRequestMayHaveArrived(t *testing.T) {
	for name, send := range map[string]func(c *Client) error{
		"cancel":  func(c *Client) error { return c.Cancel(context.Background(), "t1") },
		"requeue": func(c *Client) error { return c.Requeue(context.Background(), "t1") },
	} {
		t.Run(name, func(t *testing.T) {
			rec := &recorder{replies: []string{"drop", "200 {}"}}
			err := send(quickClient(t, rec.start(t).URL))
			var te *TransportError
			if !errors.As(err, &te) || !te.RequestSent || !errors.Is(err, ErrUnavailable) {
				t.Fatalf("err = %v, want a TransportError with the request sent", err)
			}
			if rec.count() != 1 {
				t.Errorf("%d requests, want 1", rec.count())
			}
			rec = &recorder{replies: []string{unavailable, "200 {}"}}
			if err := send(quickClient(t, rec.start(t).URL)); !errors.Is(err, ErrUnavailable) || rec.count() != 1 {
				t.Errorf("after a 503: err = %v, %d requests; want the 503 and 1 request", err, rec.count())
			}
		})
	}
}

func TestAReleaseIsSentAgainWithTheIdenticalBodyAfterALostAnswer(t *testing.T) {
	rec := &recorder{replies: []string{"drop", unavailable, `200 {"leases":[]}`}}
	if err := quickClient(t, rec.start(t).URL).release(context.Background(), "t1", "k"); err != nil || rec.count() != 3 {
		t.Fatalf("err = %v after %d requests; want success after 3", err, rec.count())
	}
	first, _ := json.Marshal(rec.bodies[0])
	for _, body := range rec.bodies[1:] {
		if again, _ := json.Marshal(body); string(again) != string(first) {
			t.Errorf("re-sent %s, first sent %s", again, first)
		}
	}
}

func TestALeaseRequestIsSentAgainUnderItsRequestIDMarkedARepeat(t *testing.T) {
	rec := &recorder{replies: []string{"drop", unavailable, `200 {"leases":[],"waited_seconds":1.5}`}}
	answer, err := quickClient(t, rec.start(t).URL).lease(context.Background(), leaseBody{
		Queue: "q", WorkerID: "w", MaxTasks: 1, LeaseSeconds: 30, RequestID: "req-1",
	})
	waited := seconds(answer.WaitedSeconds)
	if err != nil || rec.count() != 3 || waited != 1500*time.Millisecond {
		t.Fatalf("err = %v, waited %v after %d requests; want success, 1.5s after 3", err, waited, rec.count())
	}
	if _, marked := rec.bodies[0]["repeat"]; marked || rec.bodies[0]["request_id"] != "req-1" {
		t.Errorf("first sent %v, want request_id req-1 and no repeat mark", rec.bodies[0])
	}
	for _, body := range rec.bodies[1:] {
		if body["repeat"] != true || body["request_id"] != "req-1" {
			t.Errorf("re-sent %v, want request_id req-1 marked a repeat", body)
		}
	}
}

func TestALeaseRequestCarriesAFreshRequestIDEachTime(t *testing.T) {
	f := newFakeService(t, fakeGrant(1, "job"), fakeGrant(2, "job"))
	w := NewWorker(f.client(t), WorkerOptions{Queue: "q", Concurrency: 1, PollWait: -1, Logger: testLogger{t}})
	w.Handle("job", 1, func(ctx context.Context, job *Job) (any, error) { return nil, nil })
	runWorker(t, w)
	eventually(t, 5*time.Second, "three lease requests", func() bool { l, _, _, _ := f.snapshot(); return len(l) >= 3 })
	leases, _, _, _ := f.snapshot()
	seen := map[string]bool{}
	for _, l := range leases {
		if len(l.RequestID) != 22 || seen[l.RequestID] {
			t.Errorf("request_id %q (seen before: %v)", l.RequestID, seen[l.RequestID])
		}
		seen[l.RequestID] = true
	}
}

func TestReadsAreSentAgainAfterA5xxOrALostAnswer(t *testing.T) {
	task := `200 {"id":"t1","queue":"q","type":"t","type_version":1,"payload":{"a":1},"labels":{},"priority":0,` +
		`"run_at":"2030-01-01T00:00:00+00:00","attempts":2,"max_attempts":20,"retry":{},"idempotency_key":null,` +
		`"state":"succeeded","epoch":2,"lease":null,"last_error":"flaky","result":{"ok":true},` +
		`"created_at":"2030-01-01T00:00:00+00:00","updated_at":"2030-01-01T00:00:01+00:00","finished_at":"2030-01-01T00:00:01+00:00"}`
	rec := &recorder{replies: []string{"drop", `502 <html>bad gateway</html>`, task}}
	got, err := quickClient(t, rec.start(t).URL).Get(context.Background(), "t1")
	if err != nil || rec.count() != 3 {
		t.Fatalf("Get = %v after %d requests", err, rec.count())
	}
	if got.State != "succeeded" || got.Attempts != 2 || got.Epoch != 2 || got.LastError != "flaky" ||
		string(got.Result) != `{"ok":true}` || got.FinishedAt.IsZero() || got.IdempotencyKey != "" || !got.Finished() {
		t.Errorf("task = %+v", got)
	}
}

func TestARequestThatNeverLeftIsSentAgainWhateverTheCall(t *testing.T) {
	rec := &recorder{replies: []string{"200 {}"}}
	server := rec.start(t)
	var dials int
	transport := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials++
		if dials == 1 {
			return nil, errors.New("connection refused (planted)")
		}
		return (&net.Dialer{}).DialContext(ctx, network, server.Listener.Addr().String())
	}}
	c := quickClient(t, server.URL, WithHTTPClient(&http.Client{Transport: transport}))
	if err := c.Cancel(context.Background(), "t1"); err != nil || rec.count() != 1 || dials != 2 {
		t.Errorf("Cancel = %v after %d dials and %d requests; want success after 2 dials, 1 request", err, dials, rec.count())
	}
}

func TestProblemAnswersMatchTheirSentinels(t *testing.T) {
	cases := map[string][]error{
		`404 {"type":"task_not_found","title":"Task not found","status":404,"detail":"no task x","task_id":"x"}`:                                 {ErrTaskNotFound},
		`409 {"type":"lease_lost","title":"Lease lost","status":409,"detail":"d"}`:                                                               {ErrLeaseLost, ErrLeaseConflict},
		`409 {"type":"lease_expired","title":"Lease expired","status":409,"detail":"d"}`:                                                         {ErrLeaseExpired, ErrLeaseConflict},
		`409 {"type":"task_cancelled","title":"Task cancelled","status":409,"detail":"d"}`:                                                       {ErrTaskCancelled, ErrLeaseConflict},
		`409 {"type":"invalid_transition","title":"Invalid transition","status":409,"detail":"d"}`:                                               {ErrInvalidTransition},
		`422 {"type":"validation_error","title":"Validation error","status":422,"detail":"d","errors":[{"field":"queue","message":"bad name"}]}`: {ErrValidation},
		`502 <html>bad gateway</html>`: {ErrUnavailable},
		unavailable:                    {ErrUnavailable},
	}
	for reply, sentinels := range cases {
		rec := &recorder{replies: []string{reply, reply, reply, reply}}
		c := quickClient(t, rec.start(t).URL, WithRetryAttempts(1))
		err := c.Cancel(context.Background(), "x")
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status < 400 {
			t.Errorf("%s: err = %v", reply, err)
			continue
		}
		for _, s := range sentinels {
			if !errors.Is(err, s) {
				t.Errorf("%s: %v is not %v", reply, err, s)
			}
		}
		for _, other := range []error{ErrUnauthorized, ErrForbidden, ErrPayloadTooLarge} {
			if errors.Is(err, other) {
				t.Errorf("%s: %v is %v too", reply, err, other)
			}
		}
	}
	rec := &recorder{replies: []string{cases0}}
	err := quickClient(t, rec.start(t).URL).Cancel(context.Background(), "x")
	var ae *APIError
	if !errors.As(err, &ae) || ae.TaskID != "x" || ae.Detail != "no task x" || ae.Type != "task_not_found" {
		t.Errorf("APIError fields: %+v", ae)
	}
}

const cases0 = `404 {"type":"task_not_found","title":"Task not found","status":404,"detail":"no task x","task_id":"x"}`

func TestBadInputIsRefusedBeforeAnythingIsSent(t *testing.T) {
	rec := &recorder{}
	c := quickClient(t, rec.start(t).URL)
	ctx := context.Background()
	checks := map[string]error{
		"queue": func() error { _, err := c.Enqueue(ctx, NewTask{Type: "t"}); return err }(),
		"type":  func() error { _, err := c.Enqueue(ctx, NewTask{Queue: "q"}); return err }(),
		"JSON": func() error {
			_, err := c.Enqueue(ctx, NewTask{Queue: "q", Type: "t", Payload: make(chan int)})
			return err
		}(),
		"tasks": func() error { _, err := c.EnqueueBatch(ctx, nil); return err }(),
		"id":    c.Cancel(ctx, ""),
	}
	for field, err := range checks {
		if !errors.Is(err, ErrValidation) || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: err = %v", field, err)
		}
	}
	if rec.count() != 0 {
		t.Errorf("%d requests were sent", rec.count())
	}
	for _, url := range []string{"", "localhost:8000", "ftp://x", "http://", "http://h/?q=1"} {
		if _, err := NewClient(url); !errors.Is(err, ErrValidation) {
			t.Errorf("NewClient(%q) = %v", url, err)
		}
	}
}

func TestAReportWhoseAnswerWasLostIsSentAgainIdentically(t *testing.T) {
	rec := &recorder{replies: []string{"drop", `200 {"results":[{"task_id":"t1","ok":true,"state":"succeeded"}]}`}}
	c := quickClient(t, rec.start(t).URL)
	r := &reporter{client: c, log: testLogger{t}}
	var state string
	var got error
	r.send([]report{{
		outcome:  outcome{TaskID: "t1", Token: "k", Outcome: "complete", Result: []byte(`{"a":1}`)},
		deadline: time.Now().Add(time.Minute),
		answered: func(s string, err error) { state, got = s, err },
	}})
	if got != nil || state != "succeeded" || rec.count() != 2 {
		t.Fatalf("answer %q, %v after %d requests; want succeeded after 2", state, got, rec.count())
	}
	first, _ := json.Marshal(rec.bodies[0])
	if again, _ := json.Marshal(rec.bodies[1]); string(again) != string(first) {
		t.Errorf("re-sent %s, first sent %s", again, first)
	}
}

func TestAReportIsGivenUpOnceItsAttemptsAndItsLeasesAreSpent(t *testing.T) {
	rec := &recorder{replies: []string{unavailable, unavailable, unavailable, unavailable, unavailable, unavailable}}
	r := &reporter{client: quickClient(t, rec.start(t).URL), log: testLogger{t}}
	var got error
	r.send([]report{{
		outcome: outcome{TaskID: "t1", Token: "k", Outcome: "complete"}, deadline: time.Now(),
		answered: func(s string, err error) { got = err },
	}})
	if !errors.Is(got, ErrUnavailable) || rec.count() != reportRetries.attempts {
		t.Errorf("answer %v after %d requests; want the 503 after %d", got, rec.count(), reportRetries.attempts)
	}
}

func TestSetLimitsSendsAllThreeWithNullForNoneAndReadsTheQueue(t *testing.T) {
	rec := &recorder{replies: []string{"drop", `200 {"queue":"q","counts":{"leased":2},"ready":0,"scheduled":0,` +
		`"oldest_ready_age_seconds":null,"paused":false,"limits":{"concurrency":5,"concurrency_per_key":null,` +
		`"rate_per_second":2.5},"live_leases":2,"live_per_key":{"customer-7":2}}`}}
	c := quickClient(t, rec.start(t).URL)
	got, err := c.SetLimits(context.Background(), "q", QueueLimits{Concurrency: 5, RatePerSecond: 2.5})
	if err != nil {
		t.Fatal(err)
	}
	if rec.count() != 2 {
		t.Errorf("%d requests, want 2 (the PUT is re-sent after a lost answer)", rec.count())
	}
	if body, _ := json.Marshal(rec.bodies[1]); string(body) != `{"concurrency":5,"concurrency_per_key":null,"rate_per_second":2.5}` {
		t.Errorf("body %s", body)
	}
	if got.Limits != (QueueLimits{Concurrency: 5, RatePerSecond: 2.5}) || got.LiveLeases != 2 || got.LivePerKey["customer-7"] != 2 {
		t.Errorf("SetLimits = %+v", got)
	}
}

func TestEnqueueSendsTheConcurrencyKeyOnlyWhenGiven(t *testing.T) {
	rec := &recorder{replies: []string{`201 {"tasks":[{"id":"t1","state":"pending","deduplicated":false},` +
		`{"id":"t2","state":"pending","deduplicated":false}]}`}}
	c := quickClient(t, rec.start(t).URL)
	_, err := c.EnqueueBatch(context.Background(), []NewTask{
		{Queue: "q", Type: "t", ConcurrencyKey: "customer-7"}, {Queue: "q", Type: "t"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tasks := rec.bodies[0]["tasks"].([]any)
	if tasks[0].(map[string]any)["concurrency_key"] != "customer-7" {
		t.Errorf("first task %v", tasks[0])
	}
	if _, sent := tasks[1].(map[string]any)["concurrency_key"]; sent {
		t.Errorf("second task carries a key: %v", tasks[1])
	}
}
