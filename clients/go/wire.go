package leaseq

import (
	"encoding/json"
	"time"
)

// API v1 bodies (docs/api.md) and their conversion to the SDK's types.

type taskBody struct {
	Queue          string            `json:"queue"`
	Type           string            `json:"type"`
	TypeVersion    int               `json:"type_version,omitempty"`
	Payload        any               `json:"payload"`
	Labels         map[string]string `json:"labels,omitempty"`
	Priority       int               `json:"priority,omitempty"`
	RunAt          *time.Time        `json:"run_at,omitempty"`
	DelaySeconds   *float64          `json:"delay_seconds,omitempty"`
	MaxAttempts    int               `json:"max_attempts,omitempty"`
	Retry          *retryBody        `json:"retry,omitempty"`
	IdempotencyKey string            `json:"idempotency_key"`
	ConcurrencyKey string            `json:"concurrency_key,omitempty"`
}

type retryBody struct {
	BaseSeconds float64 `json:"base_seconds,omitempty"`
	Factor      float64 `json:"factor,omitempty"`
	MaxSeconds  float64 `json:"max_seconds,omitempty"`
	Jitter      float64 `json:"jitter,omitempty"`
}

type enqueueAnswer struct {
	Tasks []struct {
		ID           string `json:"id"`
		State        string `json:"state"`
		Deduplicated bool   `json:"deduplicated"`
	} `json:"tasks"`
}

type taskAnswer struct {
	ID             string            `json:"id"`
	Queue          string            `json:"queue"`
	Type           string            `json:"type"`
	TypeVersion    int               `json:"type_version"`
	Payload        json.RawMessage   `json:"payload"`
	Labels         map[string]string `json:"labels"`
	Priority       int               `json:"priority"`
	RunAt          time.Time         `json:"run_at"`
	Attempts       int               `json:"attempts"`
	MaxAttempts    int               `json:"max_attempts"`
	IdempotencyKey *string           `json:"idempotency_key"`
	ConcurrencyKey *string           `json:"concurrency_key"`
	State          string            `json:"state"`
	Epoch          int64             `json:"epoch"`
	Lease          *struct {
		Owner     string    `json:"owner"`
		Epoch     int64     `json:"epoch"`
		ExpiresAt time.Time `json:"expires_at"`
	} `json:"lease"`
	LastError  *string         `json:"last_error"`
	Result     json.RawMessage `json:"result"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
	FinishedAt *time.Time      `json:"finished_at"`
}

func (a taskAnswer) task() Task {
	t := Task{
		ID: a.ID, Queue: a.Queue, Type: a.Type, Version: a.TypeVersion, State: a.State,
		Attempts: a.Attempts, MaxAttempts: a.MaxAttempts, Priority: a.Priority, Epoch: a.Epoch,
		Payload: a.Payload, Labels: a.Labels, Result: orNil(a.Result), RunAt: a.RunAt,
		CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
	}
	if a.IdempotencyKey != nil {
		t.IdempotencyKey = *a.IdempotencyKey
	}
	if a.ConcurrencyKey != nil {
		t.ConcurrencyKey = *a.ConcurrencyKey
	}
	if a.LastError != nil {
		t.LastError = *a.LastError
	}
	if a.FinishedAt != nil {
		t.FinishedAt = *a.FinishedAt
	}
	if a.Lease != nil {
		t.Lease = &LeaseInfo{Owner: a.Lease.Owner, Epoch: a.Lease.Epoch, ExpiresAt: a.Lease.ExpiresAt}
	}
	return t
}

func orNil(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return raw
}

type pageAnswer struct {
	Tasks      []taskAnswer `json:"tasks"`
	NextCursor *string      `json:"next_cursor"`
}

type historyAnswer struct {
	Events []struct {
		At         time.Time `json:"at"`
		Transition string    `json:"transition"`
		FromState  *string   `json:"from_state"`
		ToState    string    `json:"to_state"`
		Attempt    int       `json:"attempt"`
		Epoch      int64     `json:"epoch"`
		Worker     *string   `json:"worker"`
		Error      *string   `json:"error"`
	} `json:"events"`
}

type queueAnswer struct {
	Queue               string         `json:"queue"`
	Counts              map[string]int `json:"counts"`
	Ready               int            `json:"ready"`
	Scheduled           int            `json:"scheduled"`
	OldestReadyAge      *float64       `json:"oldest_ready_age_seconds"`
	SucceededLastMinute int            `json:"succeeded_last_minute"`
	DeadLastMinute      int            `json:"dead_last_minute"`
	Paused              bool           `json:"paused"`
	Limits              limitsBody     `json:"limits"`
	LiveLeases          int            `json:"live_leases"`
	LivePerKey          map[string]int `json:"live_per_key"`
}

// limitsBody is PUT /v1/queues/{queue}/limits and the queue answers' "limits": null
// (a nil pointer) is no such limit.
type limitsBody struct {
	Concurrency       *int     `json:"concurrency"`
	ConcurrencyPerKey *int     `json:"concurrency_per_key"`
	RatePerSecond     *float64 `json:"rate_per_second"`
}

func newLimitsBody(l QueueLimits) limitsBody {
	var b limitsBody
	if l.Concurrency != 0 {
		b.Concurrency = &l.Concurrency
	}
	if l.ConcurrencyPerKey != 0 {
		b.ConcurrencyPerKey = &l.ConcurrencyPerKey
	}
	if l.RatePerSecond != 0 {
		b.RatePerSecond = &l.RatePerSecond
	}
	return b
}

func (b limitsBody) limits() QueueLimits {
	var l QueueLimits
	if b.Concurrency != nil {
		l.Concurrency = *b.Concurrency
	}
	if b.ConcurrencyPerKey != nil {
		l.ConcurrencyPerKey = *b.ConcurrencyPerKey
	}
	if b.RatePerSecond != nil {
		l.RatePerSecond = *b.RatePerSecond
	}
	return l
}

func (a queueAnswer) stats() QueueStats {
	s := QueueStats{
		Queue: a.Queue, Counts: a.Counts, Ready: a.Ready, Scheduled: a.Scheduled,
		SucceededLastMinute: a.SucceededLastMinute, DeadLastMinute: a.DeadLastMinute,
		Paused: a.Paused, Limits: a.Limits.limits(), LiveLeases: a.LiveLeases, LivePerKey: a.LivePerKey,
	}
	if a.OldestReadyAge != nil {
		s.OldestReadyAge = seconds(*a.OldestReadyAge)
	}
	return s
}

// -- worker calls ----------------------------------------------------------------------

type typeBody struct {
	Type    string `json:"type"`
	Version int    `json:"version"`
}

type leaseBody struct {
	Queue        string     `json:"queue"`
	WorkerID     string     `json:"worker_id"`
	Types        []typeBody `json:"types"`
	MaxTasks     int        `json:"max_tasks"`
	LeaseSeconds float64    `json:"lease_seconds"`
	WaitSeconds  float64    `json:"wait_seconds"`
	RequestID    string     `json:"request_id"`       // a re-send answers with the same grants
	Repeat       bool       `json:"repeat,omitempty"` // set on every re-send of the request
	// Finished tasks' results reported before the claim, in the same transaction (at most
	// maxReportBatch); a request that carries them does not wait. Re-sends carry them too.
	Results []outcome `json:"results,omitempty"`
}

type grant struct {
	TaskID      string            `json:"task_id"`
	Token       string            `json:"token"`
	Epoch       int64             `json:"epoch"`
	ExpiresAt   time.Time         `json:"expires_at"`
	Attempt     int               `json:"attempt"`
	MaxAttempts int               `json:"max_attempts"`
	Queue       string            `json:"queue"`
	Type        string            `json:"type"`
	TypeVersion int               `json:"type_version"`
	Payload     json.RawMessage   `json:"payload"`
	Labels      map[string]string `json:"labels"`
}

type leaseAnswer struct {
	Leases []grant `json:"leases"`
	// How long the request waited at the service before the claim that granted these
	// began (a lower bound): each lease runs at least its duration from sent + this.
	WaitedSeconds float64 `json:"waited_seconds"`
	// One answer per result the request carried, in order (absent when it carried none).
	Results []resultAnswer `json:"results,omitempty"`
}

type heartbeatBody struct {
	Token        string  `json:"token"`
	LeaseSeconds float64 `json:"lease_seconds"`
}

type tokenBody struct {
	Token string `json:"token"`
}

// outcome is one handler's result, as POST /v1/results takes it.
type outcome struct {
	TaskID       string          `json:"task_id"`
	Token        string          `json:"token"`
	Outcome      string          `json:"outcome"` // complete, retry, fail
	Result       json.RawMessage `json:"result,omitempty"`
	Error        string          `json:"error,omitempty"`
	DelaySeconds *float64        `json:"delay_seconds,omitempty"`
}

type resultsBody struct {
	Results      []outcome `json:"results"`
	IncludeTasks bool      `json:"include_tasks"`
}

type resultsAnswer struct {
	Results []resultAnswer `json:"results"`
}

// resultAnswer is one result's answer, from POST /v1/results or a lease request.
type resultAnswer struct {
	TaskID  string       `json:"task_id"`
	OK      bool         `json:"ok"`
	State   string       `json:"state"`
	Problem *problemBody `json:"problem"`
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func floatSeconds(d time.Duration) *float64 {
	s := d.Seconds()
	return &s
}
