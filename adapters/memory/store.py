"""InMemoryTaskStore: applies the domain transitions to a dict of tasks.

Each method runs without awaiting between its read and its write, so concurrent asyncio
callers see every call as atomic. Tasks go in and out as copies (JSON values are
round-tripped), so callers never hold the store's internals.
"""

from __future__ import annotations

import builtins
import json
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from uuid import UUID

from attrs import evolve

from leaseq.adapters.memory.notifier import InMemoryNotifier
from leaseq.adapters.memory.producer import ProducerFeatures
from leaseq.adapters.system import SecretTokenGenerator, SystemClock, Uuid7Generator
from leaseq.domain import (
    DEFAULT_LIMITS,
    JSON,
    DomainError,
    Enqueued,
    FlowState,
    Limits,
    NewTasks,
    QueueSettings,
    ReportedTask,
    Schedule,
    Task,
    TaskEvent,
    TaskNotFound,
    TaskSpec,
    TaskState,
    Transition,
    ValidationError,
    claims,
)
from leaseq.domain import transitions as tr
from leaseq.domain import validation as v
from leaseq.domain.history import event_of, or_dead_lettered
from leaseq.domain.repeats import grant_order, granted_to
from leaseq.ports import (
    Clock,
    Complete,
    Fail,
    IdGenerator,
    LeaseRequest,
    Outcome,
    QueueStats,
    Retry,
    TaskFilter,
    TaskPage,
    TokenGenerator,
)

# The most events a task keeps (the port's largest history page); older ones drop off.
HISTORY_PER_TASK = 1000
THROUGHPUT_WINDOW = timedelta(minutes=1)
# A retention is a duration like a delay, of at most ten years.
RETENTION_LIMITS = Limits(max_delay=timedelta(days=3650))


class InMemoryTaskStore(ProducerFeatures):
    def __init__(
        self,
        *,
        clock: Clock | None = None,
        ids: IdGenerator | None = None,
        tokens: TokenGenerator | None = None,
        notifier: InMemoryNotifier | None = None,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self._clock = clock or SystemClock()
        self._ids = ids or Uuid7Generator()
        self._tokens = tokens or SecretTokenGenerator()
        self._notifier = notifier
        self._limits = limits
        self._tasks: dict[UUID, Task] = {}
        self._by_key: dict[tuple[str, str], UUID] = {}
        self._history: dict[UUID, deque[TaskEvent]] = {}
        self._queues: dict[str, QueueSettings] = {}
        self._flows: dict[str, FlowState] = {}
        self._schedules: dict[str, Schedule] = {}

    # -- producers -------------------------------------------------------------------

    async def enqueue(
        self, specs: Sequence[TaskSpec], *, now: datetime | None = None
    ) -> list[Enqueued]:
        now = self._now(now)
        v.check_batch_size(len(specs), self._limits)
        payloads = v.check_specs(specs, self._limits)
        answers: list[Enqueued] = []
        woken: set[str] = set()
        for spec, payload in zip(specs, payloads, strict=True):
            existing = self._existing(spec)
            if existing is not None:
                answers.append(Enqueued(_copy(existing), deduplicated=True))
                continue
            task = tr.new_task(
                evolve(spec, payload=json.loads(payload)), task_id=self._ids.new_id(), now=now
            )
            self._tasks[task.id] = task
            self._record(Transition.ENQUEUED, None, task, now)
            if task.idempotency_key is not None:
                self._by_key[(task.queue, task.idempotency_key)] = task.id
            if task.run_at <= now:
                woken.add(task.queue)
            answers.append(Enqueued(_copy(task), deduplicated=False))
        for queue in sorted(woken):
            self._wake(queue)
        return answers

    async def enqueue_each(
        self, spec: TaskSpec, payloads: Sequence[JSON], *, now: datetime | None = None
    ) -> NewTasks:
        v.check_each_batch(spec, len(payloads), self._limits)
        specs = [evolve(spec, payload=payload) for payload in payloads]
        answers = await self.enqueue(specs, now=now)
        created = answers[0].task.created_at if answers else None
        return NewTasks(spec, payloads, [a.task_id for a in answers], created)

    async def enqueue_keyed(
        self,
        spec: TaskSpec,
        payloads: Sequence[JSON],
        keys: Sequence[str],
        *,
        now: datetime | None = None,
    ) -> Sequence[Enqueued]:
        if len(keys) != len(payloads):
            raise ValueError("one key per payload")
        spec = evolve(spec, payload=None, idempotency_key=None)
        specs = [
            evolve(spec, payload=payload, idempotency_key=key)
            for payload, key in zip(payloads, keys, strict=True)
        ]
        answers = await self.enqueue(specs, now=now)
        if any(a.deduplicated for a in answers):
            return answers
        created = answers[0].task.created_at if answers else None
        return NewTasks(spec, payloads, [a.task_id for a in answers], created, keys)

    def _existing(self, spec: TaskSpec) -> Task | None:
        if spec.idempotency_key is None:
            return None
        task_id = self._by_key.get((spec.queue, spec.idempotency_key))
        return None if task_id is None else self._tasks[task_id]

    # -- workers ---------------------------------------------------------------------

    async def lease(self, request: LeaseRequest, *, now: datetime | None = None) -> list[Task]:
        now = self._now(now)
        claims.check_lease_request(request, self._limits)
        if request.repeat:  # what this request was granted before is its answer again
            again = _granted_before(self._tasks.values(), request, now)
            if again:
                return again
        if self._is_paused(request.queue):  # ADR 0028: a paused queue grants nothing
            return []
        flow = self._flow(request.queue)
        if flow is None:
            plan = claims.plan_claim(self._tasks.values(), request, now)
        else:  # ADR 0030: the flow rule chooses among every claimable task
            plan, self._flows[request.queue] = claims.plan_limited_claim(
                self._tasks.values(), request, now, flow
            )
        for task in plan.exhausted:
            self._tasks[task.id] = tr.expire(task, now=now)
            self._record(Transition.DEAD_LETTERED, task, self._tasks[task.id], now)
        granted = []
        for task in plan.granted:
            if task.lease_is_due_to_expire(now):
                expired = tr.expire(task, now=now)
                self._record(Transition.EXPIRED, task, expired, now)
                task = expired
            leased = tr.grant(
                task,
                now=now,
                owner=request.owner,
                token=self._tokens.new_token(),
                lease_for=request.lease_for,
                request_id=request.request_id,
            )
            self._record(Transition.LEASED, task, leased, now)
            task = self._tasks[task.id] = leased
            granted.append(_copy(task))
        return granted

    async def heartbeat(
        self, task_id: UUID, token: str, *, lease_for: timedelta, now: datetime | None = None
    ) -> Task:
        v.check_lease_for(lease_for, self._limits)
        return self._apply(
            task_id,
            lambda t, at: tr.heartbeat(t, token=token, now=at, lease_for=lease_for),
            now,
            None,
        )

    async def complete(
        self, task_id: UUID, token: str, result: JSON = None, *, now: datetime | None = None
    ) -> Task:
        stored = json.loads(v.check_result(result, self._limits))
        task = self._apply(
            task_id,
            lambda t, at: tr.complete(t, token=token, now=at, result=stored),
            now,
            Transition.COMPLETED,
        )
        self._slot_freed(task.queue)
        return task

    async def retry(
        self,
        task_id: UUID,
        token: str,
        error: str,
        *,
        delay: timedelta | None = None,
        jitter_draw: float = 0.0,
        now: datetime | None = None,
    ) -> Task:
        if delay is not None:
            v.check_delay("delay_seconds", delay, self._limits)
        text = v.clip_error(error, self._limits)
        task = self._apply(
            task_id,
            lambda t, at: tr.retry(
                t, token=token, now=at, error=text, delay=delay, jitter_draw=jitter_draw
            ),
            now,
            Transition.RETRIED,
        )
        if task.state is TaskState.PENDING and task.run_at <= self._now(now):
            self._wake(task.queue)
        else:
            self._slot_freed(task.queue)
        return task

    async def fail(
        self, task_id: UUID, token: str, error: str, *, now: datetime | None = None
    ) -> Task:
        text = v.clip_error(error, self._limits)
        task = self._apply(
            task_id,
            lambda t, at: tr.fail(t, token=token, now=at, error=text),
            now,
            Transition.FAILED,
        )
        self._slot_freed(task.queue)
        return task

    async def release(self, task_id: UUID, token: str, *, now: datetime | None = None) -> Task:
        task = self._apply(
            task_id, lambda t, at: tr.release(t, token=token, now=at), now, Transition.RELEASED
        )
        self._wake(task.queue)
        return task

    async def report(
        self,
        outcomes: Sequence[Outcome],
        *,
        with_tasks: bool = False,
        now: datetime | None = None,
    ) -> list[ReportedTask | DomainError]:
        now = self._now(now)
        answers: list[ReportedTask | DomainError] = []
        for outcome in outcomes:
            try:
                task = await self._report_one(outcome, now)
            except DomainError as error:
                answers.append(error)
            else:
                answers.append(ReportedTask.of(task, whole=with_tasks))
        return answers

    async def report_and_lease(
        self,
        outcomes: Sequence[Outcome],
        request: LeaseRequest,
        *,
        with_tasks: bool = False,
        now: datetime | None = None,
    ) -> tuple[list[ReportedTask | DomainError], list[Task]]:
        # Nothing here awaits anything outside this store: one step, as a transaction.
        now = self._now(now)
        claims.check_lease_request(request, self._limits)
        answers = await self.report(outcomes, with_tasks=with_tasks, now=now)
        return answers, await self.lease(request, now=now)

    async def _report_one(self, outcome: Outcome, now: datetime) -> Task:
        if isinstance(outcome, Complete):
            return await self.complete(outcome.task_id, outcome.token, outcome.result, now=now)
        if isinstance(outcome, Retry):
            return await self.retry(
                outcome.task_id,
                outcome.token,
                outcome.error,
                delay=outcome.delay,
                jitter_draw=outcome.jitter_draw,
                now=now,
            )
        if isinstance(outcome, Fail):
            return await self.fail(outcome.task_id, outcome.token, outcome.error, now=now)
        raise ValidationError("outcome", f"unknown outcome {type(outcome).__name__}")

    # -- operators -------------------------------------------------------------------

    async def cancel(self, task_id: UUID, *, now: datetime | None = None) -> Task:
        held = self._find(task_id).state is TaskState.LEASED
        task = self._apply(task_id, lambda t, at: tr.cancel(t, now=at), now, Transition.CANCELLED)
        if held:
            self._slot_freed(task.queue)
        return task

    async def requeue(self, task_id: UUID, *, now: datetime | None = None) -> Task:
        task = self._apply(task_id, lambda t, at: tr.requeue(t, now=at), now, Transition.REQUEUED)
        self._wake(task.queue)
        return task

    async def get(self, task_id: UUID) -> Task:
        return _copy(self._find(task_id))

    async def list(self, filter: TaskFilter) -> TaskPage:
        limit = v.check_int("limit", filter.limit, 1, self._limits.max_batch)
        after = _parse_cursor(filter.cursor)
        matching = sorted(
            (
                t
                for t in self._tasks.values()
                if (filter.queue is None or t.queue == filter.queue)
                and (filter.state is None or t.state is filter.state)
                and (filter.type is None or t.type == filter.type)
                and (after is None or t.id > after)
            ),
            key=lambda t: t.id,
        )
        page = matching[:limit]
        next_cursor = str(page[-1].id) if len(matching) > limit else None
        return TaskPage([_copy(t) for t in page], next_cursor)

    async def history(self, task_id: UUID, *, limit: int = 100) -> builtins.list[TaskEvent]:
        self._find(task_id)
        v.check_int("limit", limit, 1, HISTORY_PER_TASK)
        return builtins.list(self._history.get(task_id, ()))[-limit:]

    async def stats(
        self, queue: str | None = None, *, now: datetime | None = None
    ) -> builtins.list[QueueStats]:
        now = self._now(now)
        queues = sorted({t.queue for t in self._tasks.values()} if queue is None else {queue})
        return [self._queue_stats(name, now) for name in queues]

    def _queue_stats(self, queue: str, now: datetime) -> QueueStats:
        tasks = [t for t in self._tasks.values() if t.queue == queue]
        counts = {state: sum(t.state is state for t in tasks) for state in TaskState}
        ready = [t.run_at for t in tasks if t.is_ready(now)]
        scheduled = sum(t.state is TaskState.PENDING and t.run_at > now for t in tasks)
        oldest = now - min(ready) if ready else None
        since = now - THROUGHPUT_WINDOW
        recent = [t.state for t in tasks if t.finished_at is not None and since < t.finished_at]
        return QueueStats(
            queue,
            counts,
            len(ready),
            scheduled,
            oldest,
            succeeded_last_minute=recent.count(TaskState.SUCCEEDED),
            dead_last_minute=recent.count(TaskState.DEAD),
            live_leases=sum(t.has_live_lease(now) for t in tasks),
        )

    # -- maintenance -----------------------------------------------------------------

    async def expire_due(self, *, limit: int, now: datetime | None = None) -> int:
        now = self._now(now)
        due = sorted(
            (t for t in self._tasks.values() if t.lease_is_due_to_expire(now)),
            key=lambda t: (t.lease.expires_at if t.lease else now, t.id),
        )[:limit]
        for task in due:
            expired = tr.expire(task, now=now)
            self._tasks[task.id] = expired
            self._record(or_dead_lettered(expired, Transition.EXPIRED), task, expired, now)
            if expired.state is TaskState.PENDING:
                self._wake(task.queue)
        return len(due)

    async def prune(self, *, retention: timedelta, limit: int, now: datetime | None = None) -> int:
        v.check_int("limit", limit, 0, 100_000)
        v.check_delay("retention", retention, RETENTION_LIMITS)
        finished_before = self._now(now) - retention
        done = sorted(
            (
                t
                for t in self._tasks.values()
                if t.state.is_terminal
                and t.finished_at is not None
                and t.finished_at < finished_before
            ),
            key=lambda t: (t.finished_at, t.id),
        )[:limit]
        for task in done:
            del self._tasks[task.id]
            self._history.pop(task.id, None)
            if task.idempotency_key is not None:
                self._by_key.pop((task.queue, task.idempotency_key), None)
        return len(done)

    async def close(self) -> None:
        return None

    # -- internals -------------------------------------------------------------------

    def _now(self, now: datetime | None) -> datetime:
        return v.check_aware("now", now) if now is not None else self._clock.now()

    def _find(self, task_id: UUID) -> Task:
        task = self._tasks.get(task_id)
        if task is None:
            raise TaskNotFound(task_id)
        return task

    def _apply(
        self,
        task_id: UUID,
        transition: Callable[[Task, datetime], Task],
        now: datetime | None,
        recorded: Transition | None,
    ) -> Task:
        """Apply `transition`; record it in the history as `recorded` (None: not at all)."""
        at = self._now(now)
        before = self._find(task_id)
        task = transition(before, at)
        self._tasks[task_id] = task
        if recorded is not None:
            self._record(or_dead_lettered(task, recorded), before, task, at)
        return _copy(task)

    def _record(
        self, transition: Transition, before: Task | None, after: Task, at: datetime
    ) -> None:
        events = self._history.get(after.id)
        if events is None:
            events = self._history[after.id] = deque(maxlen=HISTORY_PER_TASK)
        events.append(event_of(transition, before, after, at))
        if after.state.is_terminal and (before is None or not before.state.is_terminal):
            self._announce_final(after.id)

    def _slot_freed(self, queue: str) -> None:
        """A lease of `queue` ended: on a limited queue its waiters may claim now."""
        if self._flow(queue) is not None:
            self._wake(queue)

    def _wake(self, queue: str) -> None:
        if self._notifier is not None:
            self._notifier.notify_now(queue)


def _granted_before(tasks: Iterable[Task], request: LeaseRequest, now: datetime) -> list[Task]:
    """A repeated lease request's answer: its grants that are still live, as they stand."""
    owner, request_id = request.owner, request.request_id
    found = [
        t
        for t in tasks
        if claims.in_scope(t, request)
        and granted_to(t, owner=owner, request_id=request_id, now=now)
    ]
    return [_copy(t) for t in sorted(found, key=grant_order)]


def _parse_cursor(cursor: str | None) -> UUID | None:
    if cursor is None:
        return None
    try:
        return UUID(cursor)
    except ValueError:
        raise ValidationError("cursor", "is not a cursor this service handed out") from None


def _copy(task: Task) -> Task:
    return evolve(
        task,
        payload=_clone(task.payload),
        result=_clone(task.result),
        labels=dict(task.labels),
    )


def _clone(value: JSON) -> JSON:
    if isinstance(value, dict | list):
        return json.loads(json.dumps(value))
    return value
