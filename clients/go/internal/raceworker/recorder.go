package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/leaseq/leaseq/clients/go/internal/monoclock"
)

// recorder sits between the SDK and the network and writes what each lease call asked
// and what the service answered, as tests/concurrency/history.py's Event: the caller's
// monotonic clock before (sent) and after (answered), the store-clock instants the
// answers carry. A call without an answer is written as refused with error
// "unanswered" (the checker cannot know whether it was applied). A lease request that
// carries results (ADR 33) is written as that report, then the grants.
type recorder struct {
	inner  http.RoundTripper
	actor  string
	log    *lines
	mu     sync.Mutex
	epochs map[string]int64 // token → the epoch of its grant
}

type event struct {
	Op        string  `json:"op"`
	TaskID    string  `json:"task_id"`
	Actor     string  `json:"actor"`
	Accepted  bool    `json:"accepted"`
	Token     *string `json:"token"`
	Epoch     *int64  `json:"epoch"`
	At        *string `json:"at"`
	ExpiresAt *string `json:"expires_at"`
	State     *string `json:"state"`
	Error     *string `json:"error"`
	Sent      float64 `json:"sent"`
	Answered  float64 `json:"answered"`
}

type call struct {
	path           string
	body           map[string]json.RawMessage
	sent, answered float64
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	c := call{path: req.URL.Path}
	if req.GetBody != nil {
		if body, err := req.GetBody(); err == nil {
			_ = json.NewDecoder(body).Decode(&c.body)
		}
	}
	c.sent = monoclock.Seconds()
	resp, err := r.inner.RoundTrip(req)
	if err != nil {
		c.answered = monoclock.Seconds()
		r.unanswered(c)
		return nil, err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	c.answered = monoclock.Seconds()
	if err != nil {
		r.unanswered(c)
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	r.answered(c, resp.StatusCode, data)
	return resp, nil
}

func (r *recorder) answered(c call, status int, data []byte) {
	ok := status >= 200 && status < 300
	switch op := opOf(c.path); {
	case op == "lease":
		if _, carried := c.body["results"]; carried {
			r.results(c, ok, data) // applied before the claim, in its transaction
		}
		if ok {
			r.grants(c, data)
		}
	case op == "heartbeat" || op == "release":
		if !ok {
			r.refused(c, op, taskOf(c.path), problemType(data))
			return
		}
		var a struct {
			Epoch     int64     `json:"epoch"`
			ExpiresAt time.Time `json:"expires_at"`
			State     string    `json:"state"`
			UpdatedAt time.Time `json:"updated_at"`
		}
		_ = json.Unmarshal(data, &a)
		token := r.token(c.body)
		e := event{Op: op, TaskID: taskOf(c.path), Actor: r.actor, Accepted: true, Token: &token,
			Epoch: r.epoch(token), Sent: c.sent, Answered: c.answered}
		if op == "heartbeat" {
			e.Epoch, e.State = &a.Epoch, str("leased")
			e.At, e.ExpiresAt = stamp(a.ExpiresAt.Add(-leaseFor(c.body))), stamp(a.ExpiresAt)
		} else {
			e.State, e.At = &a.State, stamp(a.UpdatedAt)
		}
		r.log.add(e)
	case op == "results":
		r.results(c, ok, data)
	}
}

func (r *recorder) grants(c call, data []byte) {
	var a struct {
		Leases []struct {
			TaskID    string    `json:"task_id"`
			Token     string    `json:"token"`
			Epoch     int64     `json:"epoch"`
			ExpiresAt time.Time `json:"expires_at"`
		} `json:"leases"`
	}
	_ = json.Unmarshal(data, &a)
	for _, l := range a.Leases {
		l := l
		r.mu.Lock()
		r.epochs[l.Token] = l.Epoch
		r.mu.Unlock()
		r.log.add(event{Op: "grant", TaskID: l.TaskID, Actor: r.actor, Accepted: true, Token: &l.Token,
			Epoch: &l.Epoch, At: stamp(l.ExpiresAt.Add(-leaseFor(c.body))), ExpiresAt: stamp(l.ExpiresAt),
			State: str("leased"), Sent: c.sent, Answered: c.answered})
	}
}

type item struct {
	TaskID  string `json:"task_id"`
	Token   string `json:"token"`
	Outcome string `json:"outcome"`
}

func (r *recorder) results(c call, ok bool, data []byte) {
	var asked []item
	_ = json.Unmarshal(c.body["results"], &asked)
	var a struct {
		Results []struct {
			OK        bool      `json:"ok"`
			State     string    `json:"state"`
			UpdatedAt time.Time `json:"updated_at"`
			Problem   *struct {
				Type string `json:"type"`
			} `json:"problem"`
		} `json:"results"`
	}
	if ok {
		_ = json.Unmarshal(data, &a)
	}
	for i, it := range asked {
		it := it
		if !ok || i >= len(a.Results) {
			r.refused(c, it.Outcome, it.TaskID, problemType(data))
			continue
		}
		answer := a.Results[i]
		if !answer.OK {
			code := "refused"
			if answer.Problem != nil {
				code = answer.Problem.Type
			}
			r.refused(c, it.Outcome, it.TaskID, code)
			continue
		}
		r.log.add(event{Op: it.Outcome, TaskID: it.TaskID, Actor: r.actor, Accepted: true, Token: &it.Token,
			Epoch: r.epoch(it.Token), At: stamp(answer.UpdatedAt), State: &answer.State,
			Sent: c.sent, Answered: c.answered})
	}
}

func (r *recorder) unanswered(c call) {
	switch op := opOf(c.path); op {
	case "heartbeat", "release":
		r.refused(c, op, taskOf(c.path), "unanswered")
	case "results", "lease": // a lease request's results, if it carried any
		var asked []item
		_ = json.Unmarshal(c.body["results"], &asked)
		for _, it := range asked {
			r.refusedWith(c, it.Outcome, it.TaskID, it.Token, "unanswered")
		}
	}
}

func (r *recorder) refused(c call, op, taskID, code string) {
	r.refusedWith(c, op, taskID, r.token(c.body), code)
}

func (r *recorder) refusedWith(c call, op, taskID, token, code string) {
	r.log.add(event{Op: op, TaskID: taskID, Actor: r.actor, Accepted: false, Token: &token,
		Epoch: r.epoch(token), Error: &code, Sent: c.sent, Answered: c.answered})
}

func (r *recorder) token(body map[string]json.RawMessage) string {
	var token string
	_ = json.Unmarshal(body["token"], &token)
	return token
}

func (r *recorder) epoch(token string) *int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if epoch, ok := r.epochs[token]; ok {
		return &epoch
	}
	return nil
}

func opOf(path string) string {
	switch {
	case path == "/v1/leases":
		return "lease"
	case path == "/v1/results":
		return "results"
	case strings.HasSuffix(path, "/heartbeat"):
		return "heartbeat"
	case strings.HasSuffix(path, "/release"):
		return "release"
	}
	return ""
}

func taskOf(path string) string {
	parts := strings.Split(path, "/") // "", v1, tasks, id, action
	if len(parts) < 4 {
		return ""
	}
	return parts[3]
}

func leaseFor(body map[string]json.RawMessage) time.Duration {
	var s float64
	_ = json.Unmarshal(body["lease_seconds"], &s)
	return time.Duration(s * float64(time.Second))
}

func problemType(data []byte) string {
	var p struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(data, &p) != nil || p.Type == "" {
		return "error"
	}
	return p.Type
}

func stamp(t time.Time) *string {
	s := t.UTC().Format("2006-01-02T15:04:05.000000+00:00")
	return &s
}

func str(s string) *string { return &s }
