package leaseq

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"
)

// ErrShutdown is the Cause of a handler stopped because its worker shut down and the
// grace period ran out; its task is released, not reported.
var ErrShutdown = errors.New("leaseq: worker shutting down")

// Job is one leased task as its handler sees it.
type Job struct {
	ID          string
	Queue       string
	Type        string
	Version     int
	Attempt     int // 1 on the first run; counts leases granted
	MaxAttempts int
	// Epoch is the lease's fencing number: it grows with every grant of the task, so a
	// side effect guarded by "only if my epoch is newer" refuses a stale worker's write.
	Epoch   int64
	Payload json.RawMessage
	Labels  map[string]string

	mu       sync.Mutex
	deadline time.Time
	stopped  error
}

// Decode unmarshals the payload into v.
func (j *Job) Decode(v any) error { return json.Unmarshal(j.Payload, v) }

// LastAttempt reports whether a failure of this run sends the task to the dead-letter list.
func (j *Job) LastAttempt() bool { return j.Attempt >= j.MaxAttempts }

// Deadline is when the lease runs out unless a heartbeat renews it (the worker renews
// it every third of the lease while the handler runs).
func (j *Job) Deadline() time.Time {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.deadline
}

func (j *Job) setDeadline(t time.Time) {
	j.mu.Lock()
	j.deadline = t
	j.mu.Unlock()
}

// stop records why the handler's ctx is being cancelled (the first reason wins).
func (j *Job) stop(reason error) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.stopped != nil {
		return false
	}
	j.stopped = reason
	return true
}

func (j *Job) stopReason() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.stopped
}

type jobKey struct{}

// Cause answers why a handler's ctx was cancelled: ErrLeaseLost (another lease or a
// refused heartbeat), ErrLeaseExpired (the lease ran out before a heartbeat renewed
// it), ErrTaskCancelled, or ErrShutdown; nil while it was not.
func Cause(ctx context.Context) error {
	job, ok := ctx.Value(jobKey{}).(*Job)
	if !ok {
		return nil
	}
	return job.stopReason()
}
