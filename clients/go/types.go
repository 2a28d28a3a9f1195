package leaseq

import (
	"encoding/json"
	"time"
)

// NewTask is one task to enqueue. Queue and Type are required; zero values of the rest
// mean the service's defaults (version 1, priority 0, ready now, 20 attempts, the
// default retry policy). Give RunAt or Delay, not both.
type NewTask struct {
	Queue       string
	Type        string
	Version     int
	Payload     any // encoded with encoding/json
	Priority    int // -1000…1000, higher first
	RunAt       time.Time
	Delay       time.Duration
	MaxAttempts int
	// IdempotencyKey names the task within its queue while it exists: enqueueing the
	// same key again answers with the first task (Deduplicated). Empty: the SDK makes
	// a random one, so that a re-sent request cannot enqueue the task twice.
	IdempotencyKey string
	Labels         map[string]string // "traceparent" links the worker's trace
	Retry          *RetryPolicy      // nil: the service's default policy
	// ConcurrencyKey groups tasks for the queue's per-key limit and the round-robin
	// across keys (Client.SetLimits); empty: no key.
	ConcurrencyKey string
}

// RetryPolicy is a task's backoff between attempts; zero fields keep the service's
// defaults (1 s base, factor 2, 1 h cap, 0.2 jitter).
type RetryPolicy struct {
	Base   time.Duration
	Factor float64
	Max    time.Duration
	Jitter float64
}

// TaskRef is the answer to one enqueued task.
type TaskRef struct {
	ID    string
	State string
	// Deduplicated: a task with this idempotency key already existed, and this is it.
	// (Never set for a key the SDK made: only its own re-send can have used it.)
	Deduplicated bool
}

// Task is a task as it stands (GET /v1/tasks/{id}).
type Task struct {
	ID             string
	Queue          string
	Type           string
	Version        int
	State          string // pending, leased, succeeded, dead, cancelled
	Attempts       int
	MaxAttempts    int
	Priority       int
	Epoch          int64
	Payload        json.RawMessage
	Labels         map[string]string
	Result         json.RawMessage // nil unless succeeded with a result
	LastError      string
	IdempotencyKey string
	ConcurrencyKey string
	Lease          *LeaseInfo // while leased
	RunAt          time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
	FinishedAt     time.Time // zero until finished
}

// Finished reports whether the task is in a terminal state.
func (t Task) Finished() bool {
	return t.State == "succeeded" || t.State == "dead" || t.State == "cancelled"
}

// LeaseInfo is the live lease of a leased task (its token is never shown).
type LeaseInfo struct {
	Owner     string
	Epoch     int64
	ExpiresAt time.Time
}

// TaskFilter selects tasks to list; zero fields do not filter. Limit is 1…1000
// (0: 100); Cursor is a page's NextCursor.
type TaskFilter struct {
	Queue, State, Type string
	Limit              int
	Cursor             string
}

// TaskPage is one page of a listing, oldest first; NextCursor is empty on the last.
type TaskPage struct {
	Tasks      []Task
	NextCursor string
}

// TaskEvent is one transition in a task's history.
type TaskEvent struct {
	At         time.Time
	Transition string // enqueued, leased, completed, retried, failed, released, …
	FromState  string
	ToState    string
	Attempt    int
	Epoch      int64
	Worker     string
	Error      string
}

// QueueStats are one queue's counts.
type QueueStats struct {
	Queue               string
	Counts              map[string]int // per state: pending, leased, succeeded, dead, cancelled
	Ready               int
	Scheduled           int
	OldestReadyAge      time.Duration // 0 with nothing ready
	SucceededLastMinute int
	DeadLastMinute      int
	Paused              bool
	Limits              QueueLimits
	LiveLeases          int            // leases live now (an expired one is not)
	LivePerKey          map[string]int // per concurrency key; QueueStats(queue) only
}

// QueueLimits are a queue's flow-control limits, enforced at every grant on every
// replica; a zero field means no such limit. Concurrency caps the queue's live leases,
// ConcurrencyPerKey the live leases of one concurrency key, RatePerSecond the leases
// started per second (bursts of one second's worth). Grants of equal priority go
// round-robin across keys.
type QueueLimits struct {
	Concurrency       int
	ConcurrencyPerKey int
	RatePerSecond     float64
}
