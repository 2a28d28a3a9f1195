"""Task events as Prometheus metrics: counters per transition, gauges from the stats refresh."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge

from leaseq.domain import DomainError, Enqueued, NewTasks, Task, TaskState, Transition
from leaseq.ports import QueueStats


class PrometheusTaskEvents:
    """Implements the TaskEvents port on a prometheus_client registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
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

    def transitioned(self, task: Task, transition: Transition) -> None:
        self._transitions(task.queue, task.type, transition).inc()

    def _transitions(self, queue: str, type_: str, transition: Transition) -> Counter:
        key = (queue, type_, transition.value)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.transitions.labels(*key)
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
        for one in stats:
            for state in TaskState:
                self.depth.labels(one.queue, state.value).set(one.counts.get(state, 0))
            self.ready.labels(one.queue).set(one.ready)
            self.scheduled.labels(one.queue).set(one.scheduled)
            age = one.oldest_ready_age
            self.oldest.labels(one.queue).set(0.0 if age is None else age.total_seconds())

    def watch_pool(self, status: Callable[[], tuple[int, int]]) -> None:
        """Read the pool's (checked out, size) at each scrape; cheap counters in memory."""
        self.pool.labels("checked_out").set_function(lambda: float(status()[0]))
        self.pool.labels("size").set_function(lambda: float(status()[1]))
