"""Task events as Prometheus metrics: counters per transition, gauges from the stats refresh."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge

from leaseq.domain import (
    DomainError,
    Enqueued,
    NewTasks,
    ReportedTask,
    Task,
    TaskState,
    Transition,
)
from leaseq.ports import QueueStats

OTHER = "_other"  # no queue or type name starts with "_": it names none of them


class LabelCap:
    """At most `limit` distinct values of one label; later newcomers are counted as OTHER.

    Queue and type names are chosen by producers: without a cap, every new name is a new
    time series in every scraper, forever."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._kept: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._kept:
            return value
        if len(self._kept) < self.limit:
            self._kept.add(value)
            return value
        return OTHER


class PrometheusTaskEvents:
    """Implements the TaskEvents port on a prometheus_client registry; queue and type label
    values are capped (`max_queues`, `max_types`, documented in docs/operations.md)."""

    def __init__(
        self, registry: CollectorRegistry, *, max_queues: int = 100, max_types: int = 100
    ) -> None:
        self.queue_label = LabelCap(max_queues)
        self.type_label = LabelCap(max_types)
        self.transitions = Counter(
            "leaseq_task_transitions_total",
            "Task transitions accepted, by queue, type and transition",
            ["queue", "type", "transition"],
            registry=registry,
        )
        self.refusals = Counter(
            "leaseq_lease_refusals_total",
            "Fenced calls refused (stale token, expired lease, cancelled task), by call and code",
            ["call", "code"],
            registry=registry,
        )
        self.expired = Counter(
            "leaseq_leases_expired_total",
            "Leases the expiry sweep found run out (the task went back to pending or dead)",
            registry=registry,
        )
        self.depth = Gauge(
            "leaseq_queue_tasks",
            "Tasks per queue and state (refreshed every few seconds)",
            ["queue", "state"],
            registry=registry,
        )
        self.ready = Gauge(
            "leaseq_queue_ready_tasks", "Pending tasks ready now", ["queue"], registry=registry
        )
        self.scheduled = Gauge(
            "leaseq_queue_scheduled_tasks",
            "Pending tasks whose run_at lies ahead",
            ["queue"],
            registry=registry,
        )
        self.oldest = Gauge(
            "leaseq_queue_oldest_ready_age_seconds",
            "Age of the oldest ready task (0 when none is ready)",
            ["queue"],
            registry=registry,
        )
        self.pool = Gauge(
            "leaseq_db_pool_connections",
            "Database connections of this replica's pool: checked_out, size",
            ["kind"],
            registry=registry,
        )
        # label children are created once per combination and reused (no hot-path allocation)
        self._children: dict[tuple[str, str, str], Counter] = {}

    def transitioned(self, task: Task | ReportedTask, transition: Transition) -> None:
        self._transitions(task.queue, task.type, transition).inc()

    def _transitions(self, queue: str, type_: str, transition: Transition) -> Counter:
        key = (queue, type_, transition.value)
        child = self._children.get(key)
        if child is None:
            labels = (self.queue_label(queue), self.type_label(type_), transition.value)
            child = self.transitions.labels(*labels)
            if labels == key:  # a capped name is looked up again: it may be kept later
                self._children[key] = child
        return child

    def enqueued(self, answers: Sequence[Enqueued]) -> None:
        counts: dict[tuple[str, str], int] = {}  # one increment per (queue, type), not per task
        if isinstance(answers, NewTasks):  # one spec: counted without an object per task
            if answers:
                counts[(answers.spec.queue, answers.spec.type)] = len(answers)
        else:
            for answer in answers:
                if not answer.deduplicated:
                    key = (answer.queue, answer.type)
                    counts[key] = counts.get(key, 0) + 1
        for (queue, type_), count in counts.items():
            self._transitions(queue, type_, Transition.ENQUEUED).inc(count)

    def refused(self, call: str, task_id: object, error: DomainError) -> None:
        self.refusals.labels(call, error.code).inc()

    def swept(self, expired: int) -> None:
        self.expired.inc(expired)

    def queue_stats(self, stats: Sequence[QueueStats]) -> None:
        for gauge in (self.depth, self.ready, self.scheduled, self.oldest):
            gauge.clear()  # a queue that no longer holds tasks disappears
        for queue, (counts, ready, scheduled, oldest) in self._by_label(stats).items():
            for state in TaskState:
                self.depth.labels(queue, state.value).set(counts.get(state, 0))
            self.ready.labels(queue).set(ready)
            self.scheduled.labels(queue).set(scheduled)
            self.oldest.labels(queue).set(oldest)

    def _by_label(
        self, stats: Sequence[QueueStats]
    ) -> dict[str, tuple[dict[TaskState, int], int, int, float]]:
        """Each queue's numbers under its label value; the queues past the cap add up."""
        found: dict[str, tuple[dict[TaskState, int], int, int, float]] = {}
        for one in stats:
            queue = self.queue_label(one.queue)
            counts, ready, scheduled, oldest = found.get(queue, ({}, 0, 0, 0.0))
            for state, count in one.counts.items():
                counts[state] = counts.get(state, 0) + count
            age = one.oldest_ready_age
            found[queue] = (
                counts,
                ready + one.ready,
                scheduled + one.scheduled,
                max(oldest, 0.0 if age is None else age.total_seconds()),
            )
        return found

    def watch_pool(self, status: Callable[[], tuple[int, int]]) -> None:
        """Read the pool's (checked out, size) at each scrape; cheap counters in memory."""
        self.pool.labels("checked_out").set_function(lambda: float(status()[0]))
        self.pool.labels("size").set_function(lambda: float(status()[1]))
