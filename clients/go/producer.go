package leaseq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// Enqueue adds one task; see EnqueueBatch.
func (c *Client) Enqueue(ctx context.Context, task NewTask) (TaskRef, error) {
	refs, err := c.EnqueueBatch(ctx, []NewTask{task})
	if err != nil {
		return TaskRef{}, err
	}
	return refs[0], nil
}

// EnqueueBatch adds tasks atomically (all or none) and answers in order. Every task
// carries an idempotency key (one is made when none is given), so a request whose
// answer was lost is sent again safely. A traceparent set on ctx with WithTraceParent
// becomes the "traceparent" label of tasks that have none.
func (c *Client) EnqueueBatch(ctx context.Context, tasks []NewTask) ([]TaskRef, error) {
	if len(tasks) == 0 {
		return nil, invalid("tasks", "give at least one task")
	}
	bodies := make([]taskBody, len(tasks))
	made := make([]bool, len(tasks)) // the key is the SDK's own
	trace, _ := TraceParent(ctx)
	random, err := randomID()
	if err != nil {
		return nil, err
	}
	for i, t := range tasks {
		body, generated, err := newTaskBody(t, trace, sdkKey(random, i))
		if err != nil {
			return nil, fmt.Errorf("tasks[%d]: %w", i, err)
		}
		bodies[i], made[i] = body, generated
	}
	var answer enqueueAnswer
	err = c.do(ctx, call{
		method: "POST", path: "/v1/tasks", body: map[string]any{"tasks": bodies},
		safe: resendEnqueue,
	}, &answer)
	var unencodable *bodyError
	if errors.As(err, &unencodable) {
		return nil, whichPayload(tasks, err)
	}
	if err != nil {
		return nil, err
	}
	if len(answer.Tasks) != len(tasks) {
		return nil, fmt.Errorf("leaseq: POST /v1/tasks: %d answers for %d tasks", len(answer.Tasks), len(tasks))
	}
	refs := make([]TaskRef, len(tasks))
	for i, a := range answer.Tasks {
		refs[i] = TaskRef{ID: a.ID, State: a.State, Deduplicated: a.Deduplicated && !made[i]}
	}
	return refs, nil
}

// whichPayload names the task whose payload cannot be encoded.
func whichPayload(tasks []NewTask, err error) error {
	for i, t := range tasks {
		if _, encodeErr := json.Marshal(t.Payload); encodeErr != nil {
			return invalid(fmt.Sprintf("tasks[%d].payload", i), "cannot be encoded as JSON: %v", encodeErr)
		}
	}
	return err
}

func newTaskBody(t NewTask, trace, key string) (taskBody, bool, error) {
	if t.Queue == "" {
		return taskBody{}, false, invalid("queue", "must not be empty")
	}
	if t.Type == "" {
		return taskBody{}, false, invalid("type", "must not be empty")
	}
	body := taskBody{
		Queue: t.Queue, Type: t.Type, TypeVersion: t.Version, Payload: t.Payload,
		Labels: t.Labels, Priority: t.Priority, MaxAttempts: t.MaxAttempts,
		IdempotencyKey: t.IdempotencyKey, ConcurrencyKey: t.ConcurrencyKey,
	}
	if trace != "" {
		if _, given := t.Labels["traceparent"]; !given {
			body.Labels = make(map[string]string, len(t.Labels)+1)
			for k, v := range t.Labels {
				body.Labels[k] = v
			}
			body.Labels["traceparent"] = trace
		}
	}
	if !t.RunAt.IsZero() {
		runAt := t.RunAt
		body.RunAt = &runAt
	}
	if t.Delay != 0 {
		body.DelaySeconds = floatSeconds(t.Delay)
	}
	if r := t.Retry; r != nil {
		body.Retry = &retryBody{
			BaseSeconds: r.Base.Seconds(), Factor: r.Factor, MaxSeconds: r.Max.Seconds(), Jitter: r.Jitter,
		}
	}
	if body.IdempotencyKey == "" {
		body.IdempotencyKey = key
		return body, true, nil
	}
	return body, false, nil
}

// Get answers the task as it stands (admin scope).
func (c *Client) Get(ctx context.Context, id string) (Task, error) {
	if id == "" {
		return Task{}, invalid("id", "must not be empty")
	}
	var answer taskAnswer
	if err := c.do(ctx, call{method: "GET", path: taskPath(id, ""), safe: resendReads}, &answer); err != nil {
		return Task{}, err
	}
	return answer.task(), nil
}

// Wait polls the task every interval (0: 100 ms) until it is finished (succeeded, dead
// or cancelled), and answers it; or returns ctx's error.
func (c *Client) Wait(ctx context.Context, id string, interval time.Duration) (Task, error) {
	if interval <= 0 {
		interval = 100 * time.Millisecond
	}
	for {
		task, err := c.Get(ctx, id)
		if err != nil || task.Finished() {
			return task, err
		}
		if !sleep(ctx, interval) {
			return task, ctx.Err()
		}
	}
}

// List answers one page of tasks, oldest first (admin scope); State "dead" is the
// dead-letter list.
func (c *Client) List(ctx context.Context, filter TaskFilter) (TaskPage, error) {
	query := url.Values{}
	for name, value := range map[string]string{
		"queue": filter.Queue, "state": filter.State, "type": filter.Type, "cursor": filter.Cursor,
	} {
		if value != "" {
			query.Set(name, value)
		}
	}
	if filter.Limit != 0 {
		query.Set("limit", strconv.Itoa(filter.Limit))
	}
	var answer pageAnswer
	err := c.do(ctx, call{method: "GET", path: "/v1/tasks", query: query, safe: resendReads}, &answer)
	if err != nil {
		return TaskPage{}, err
	}
	page := TaskPage{Tasks: make([]Task, len(answer.Tasks))}
	for i, t := range answer.Tasks {
		page.Tasks[i] = t.task()
	}
	if answer.NextCursor != nil {
		page.NextCursor = *answer.NextCursor
	}
	return page, nil
}

// History answers the task's most recent transitions, at most limit (0: 100), oldest
// first (admin scope).
func (c *Client) History(ctx context.Context, id string, limit int) ([]TaskEvent, error) {
	if id == "" {
		return nil, invalid("id", "must not be empty")
	}
	query := url.Values{}
	if limit != 0 {
		query.Set("limit", strconv.Itoa(limit))
	}
	var answer historyAnswer
	err := c.do(ctx, call{method: "GET", path: taskPath(id, "history"), query: query, safe: resendReads}, &answer)
	if err != nil {
		return nil, err
	}
	events := make([]TaskEvent, len(answer.Events))
	for i, e := range answer.Events {
		events[i] = TaskEvent{
			At: e.At, Transition: e.Transition, FromState: deref(e.FromState), ToState: e.ToState,
			Attempt: e.Attempt, Epoch: e.Epoch, Worker: deref(e.Worker), Error: deref(e.Error),
		}
	}
	return events, nil
}

// Cancel cancels a pending or leased task (admin scope); a leased task's lease is
// revoked at once, so its handler is stopped at its next heartbeat. Not re-sent after
// the request may have reached the service (a repeat would answer invalid_transition).
func (c *Client) Cancel(ctx context.Context, id string) error {
	if id == "" {
		return invalid("id", "must not be empty")
	}
	return c.do(ctx, call{method: "POST", path: taskPath(id, "cancel"), safe: resendCancel}, nil)
}

// Requeue redrives a dead or cancelled task: pending again, attempts reset (admin scope).
func (c *Client) Requeue(ctx context.Context, id string) error {
	if id == "" {
		return invalid("id", "must not be empty")
	}
	return c.do(ctx, call{method: "POST", path: taskPath(id, "requeue"), safe: resendRequeue}, nil)
}

// Stats answers the counts of every queue that holds tasks (admin scope).
func (c *Client) Stats(ctx context.Context) ([]QueueStats, error) {
	var answer struct {
		Queues []queueAnswer `json:"queues"`
	}
	if err := c.do(ctx, call{method: "GET", path: "/v1/queues", safe: resendReads}, &answer); err != nil {
		return nil, err
	}
	stats := make([]QueueStats, len(answer.Queues))
	for i, q := range answer.Queues {
		stats[i] = q.stats()
	}
	return stats, nil
}

// QueueStats answers one queue's counts (zeros for a queue without tasks; admin scope).
func (c *Client) QueueStats(ctx context.Context, queue string) (QueueStats, error) {
	if queue == "" {
		return QueueStats{}, invalid("queue", "must not be empty")
	}
	var answer queueAnswer
	err := c.do(ctx, call{method: "GET", path: "/v1/queues/" + url.PathEscape(queue), safe: resendReads}, &answer)
	if err != nil {
		return QueueStats{}, err
	}
	return answer.stats(), nil
}

// SetLimits replaces the queue's flow-control limits, all three at once (a zero field
// lifts that limit), in force at the next grant on every replica; it answers the queue
// as it now stands (admin scope). Re-sent after a lost answer: setting the same limits
// twice is setting them once. A limit out of bounds is a *ValidationError naming it.
func (c *Client) SetLimits(ctx context.Context, queue string, limits QueueLimits) (QueueStats, error) {
	if queue == "" {
		return QueueStats{}, invalid("queue", "must not be empty")
	}
	var answer queueAnswer
	path := "/v1/queues/" + url.PathEscape(queue) + "/limits"
	k := call{method: "PUT", path: path, body: newLimitsBody(limits), safe: resendSetLimits}
	if err := c.do(ctx, k, &answer); err != nil {
		return QueueStats{}, err
	}
	return answer.stats(), nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
