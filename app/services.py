"""The use cases of the queue service; every inbound adapter (HTTP, in-process SDK) calls these."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Awaitable, Sequence
from datetime import timedelta
from uuid import UUID

from attrs import frozen

from leaseq.app.awaiting import await_final
from leaseq.app.long_poll import LongPollHub
from leaseq.app.observers import NoTaskEvents
from leaseq.domain import (
    JSON,
    DomainError,
    Enqueued,
    LeaseConflict,
    NewTasks,
    ReportedTask,
    ReportRepeated,
    Task,
    TaskEvent,
    TaskSpec,
    Transition,
)
from leaseq.domain.history import or_dead_lettered
from leaseq.ports import (
    Fail,
    JitterSource,
    LeaseRequest,
    Notifier,
    Outcome,
    QueueStats,
    Retry,
    TaskEvents,
    TaskFilter,
    TaskPage,
    TaskStore,
)

_REPORTED = {
    "complete": Transition.COMPLETED,
    "retry": Transition.RETRIED,
    "fail": Transition.FAILED,
}


@frozen
class LongPoll:
    """How lease requests wait: at most `max_wait` seconds; every `fallback_poll` seconds
    one waiter per (queue, type filter) looks at the store again, for scheduled tasks,
    expired leases and missed wake-ups."""

    max_wait: float = 20.0
    fallback_poll: float = 1.0


class TaskService:
    """Producer, worker and operator use cases over one task store."""

    def __init__(
        self,
        store: TaskStore,
        notifier: Notifier,
        jitter: JitterSource,
        long_poll: LongPoll = LongPoll(),
        events: TaskEvents | None = None,
        *,
        whole_reports: bool = False,
    ) -> None:
        """`whole_reports`: observers are told of a report's outcomes with the whole task
        (e.g. to log payloads), which costs each report a wider read (ADR 0037)."""
        self._store = store
        self._whole_reports = whole_reports
        self._events: TaskEvents = events or NoTaskEvents()
        self._notifier = notifier
        self._jitter = jitter
        self._long_poll = long_poll
        self._hub = LongPollHub(notifier, long_poll.fallback_poll)

    @property
    def waiting(self) -> int:
        """How many lease requests are waiting right now (for metrics)."""
        return self._hub.waiting

    async def close(self) -> None:
        """Stop the long-poll watchers; waiting requests answer with nothing."""
        await self._hub.close()

    # producers
    async def enqueue(self, specs: Sequence[TaskSpec]) -> list[Enqueued]:
        answers = await self._store.enqueue(specs)
        self._events.enqueued(answers)
        return answers

    async def enqueue_each(self, spec: TaskSpec, payloads: Sequence[JSON]) -> NewTasks:
        """`enqueue` of `spec` once per payload (no idempotency key), answered column-wise."""
        new = await self._store.enqueue_each(spec, payloads)
        self._events.enqueued(new)
        return new

    async def enqueue_keyed(
        self, spec: TaskSpec, payloads: Sequence[JSON], keys: Sequence[str]
    ) -> Sequence[Enqueued]:
        """`enqueue` of `spec` once per (payload, idempotency key), answered column-wise
        when every task is new (ADR 0021: the SDK keys every task)."""
        answers = await self._store.enqueue_keyed(spec, payloads, keys)
        self._events.enqueued(answers)
        return answers

    # workers
    async def lease(
        self, request: LeaseRequest, wait_seconds: float = 0.0, *, gone: asyncio.Event | None = None
    ) -> list[Task]:
        """Claim ready tasks; when none is ready, wait up to `wait_seconds` for one. Once
        `gone` is set (the caller went away) the wait ends and nothing more is claimed; a
        claim already under way finishes, and what it granted is the caller's to release."""
        granted, _ = await self.lease_timed(request, wait_seconds, gone=gone)
        return granted

    async def lease_timed(
        self, request: LeaseRequest, wait_seconds: float = 0.0, *, gone: asyncio.Event | None = None
    ) -> tuple[list[Task], float]:
        """`lease`, and how long the request waited before the claim that granted the
        tasks began (0 when the first look granted them): a lower bound of the time
        from the request's arrival to the grant, so a worker that counts each lease from
        when it sent the request plus this never counts past the lease (ADR 0022)."""
        granted, waited = await self._claim(request, wait_seconds, gone)
        for task in granted:
            self._events.transitioned(task, Transition.LEASED)
        return granted, waited

    async def _claim(
        self, request: LeaseRequest, wait_seconds: float, gone: asyncio.Event | None
    ) -> tuple[list[Task], float]:
        wait = min(max(wait_seconds, 0.0), self._long_poll.max_wait)
        if wait <= 0:
            return await self._store.lease(request), 0.0
        loop = asyncio.get_running_loop()
        began = loop.time()
        deadline = began + wait
        async with self._hub.waiter(request.queue, request.types) as waiter:
            claim_began = began
            while gone is None or not gone.is_set():
                granted = await self._store.lease(request)
                if granted:
                    if len(granted) >= request.limit:
                        waiter.pass_turn()  # a full batch: the queue may hold more
                    return granted, claim_began - began
                remaining = deadline - loop.time()
                if remaining <= 0 or not await waiter.wait_turn(remaining, gone):
                    return [], 0.0
                claim_began = loop.time()
            return [], 0.0

    async def heartbeat(self, task_id: UUID, token: str, lease_for: timedelta) -> Task:
        try:
            return await self._store.heartbeat(task_id, token, lease_for=lease_for)
        except LeaseConflict as error:
            self._events.refused("heartbeat", task_id, error)
            raise

    # Reports (complete, retry, fail, release) answer a repeat of the report that ended
    # the lease with the first answer: the task as that report left it (ADR 0021).
    async def complete(self, task_id: UUID, token: str, result: JSON = None) -> Task:
        call = self._store.complete(task_id, token, result)
        return await self._fenced("complete", task_id, call, Transition.COMPLETED)

    async def retry(
        self, task_id: UUID, token: str, error: str, delay: timedelta | None = None
    ) -> Task:
        call = self._store.retry(
            task_id, token, error, delay=delay, jitter_draw=self._jitter.draw()
        )
        return await self._fenced("retry", task_id, call, Transition.RETRIED)

    async def fail(self, task_id: UUID, token: str, error: str) -> Task:
        call = self._store.fail(task_id, token, error)
        return await self._fenced("fail", task_id, call, Transition.FAILED)

    async def release(self, task_id: UUID, token: str) -> Task:
        call = self._store.release(task_id, token)
        return await self._fenced("release", task_id, call, Transition.RELEASED)

    async def _fenced(
        self, name: str, task_id: UUID, call: Awaitable[Task], transition: Transition
    ) -> Task:
        try:
            task = await call
        except ReportRepeated as repeat:
            return repeat.task  # the first call's answer; nothing happened now
        except LeaseConflict as error:
            self._events.refused(name, task_id, error)
            raise
        self._events.transitioned(task, or_dead_lettered(task, transition))
        return task

    async def report(
        self, outcomes: Sequence[Outcome], *, with_tasks: bool = False
    ) -> list[ReportedTask | DomainError]:
        """Each outcome's answer: the task as it left it (the whole task `with_tasks`),
        or the refusal."""
        whole = with_tasks or self._whole_reports
        answers = await self._store.report(self._drawn(outcomes), with_tasks=whole)
        return self._reported(outcomes, answers, with_tasks=with_tasks)

    async def report_and_lease(
        self, outcomes: Sequence[Outcome], request: LeaseRequest
    ) -> tuple[list[ReportedTask | DomainError], list[Task]]:
        """A worker's finished tasks and its next claim in one call (ADR 0033): the
        outcomes are applied first, as `report` applies them, then the claim, in one store
        transaction. It never waits: the outcomes' answers are not held back by a poll."""
        answers, granted = await self._store.report_and_lease(
            self._drawn(outcomes), request, with_tasks=self._whole_reports
        )
        reported = self._reported(outcomes, answers, with_tasks=False)  # events in order
        for task in granted:
            self._events.transitioned(task, Transition.LEASED)
        return reported, granted

    def _drawn(self, outcomes: Sequence[Outcome]) -> list[Outcome]:
        """The outcomes, each retry with its jitter drawn."""
        return [
            Retry(o.task_id, o.token, o.error, o.delay, self._jitter.draw())
            if isinstance(o, Retry)
            else o
            for o in outcomes
        ]

    def _reported(
        self,
        outcomes: Sequence[Outcome],
        answers: list[ReportedTask | DomainError],
        *,
        with_tasks: bool,
    ) -> list[ReportedTask | DomainError]:
        """Tell the observers; answer whole tasks only when the caller asked for them."""
        for index, (outcome, answer) in enumerate(zip(outcomes, answers, strict=True)):
            name = _kind(outcome)
            if isinstance(answer, ReportedTask):
                transition = or_dead_lettered(answer, _REPORTED[name])
                self._events.transitioned(answer.task or answer, transition)
                if answer.task is not None and not with_tasks:
                    answers[index] = ReportedTask.of(answer.task)
            elif isinstance(answer, ReportRepeated):
                # the first call's answer; nothing happened now
                answers[index] = ReportedTask.of(answer.task, whole=with_tasks)
            elif isinstance(answer, LeaseConflict):
                self._events.refused(name, outcome.task_id, answer)
        return answers

    # operators
    async def get(self, task_id: UUID) -> Task:
        return await self._store.get(task_id)

    async def wait(self, task_id: UUID, wait_seconds: float) -> Task:
        """The task as soon as it is final, or as it stands after `wait_seconds`
        (app/awaiting.py). Raises TaskNotFound."""
        return await await_final(self._store, self._notifier, task_id, wait_seconds)

    async def list(self, filter: TaskFilter) -> TaskPage:
        return await self._store.list(filter)

    async def history(self, task_id: UUID, limit: int = 100) -> builtins.list[TaskEvent]:
        return await self._store.history(task_id, limit=limit)

    async def cancel(self, task_id: UUID) -> Task:
        task = await self._store.cancel(task_id)
        self._events.transitioned(task, Transition.CANCELLED)
        return task

    async def requeue(self, task_id: UUID) -> Task:
        task = await self._store.requeue(task_id)
        self._events.transitioned(task, Transition.REQUEUED)
        return task

    async def stats(self, queue: str | None = None) -> builtins.list[QueueStats]:
        return await self._store.stats(queue)


def _kind(outcome: Outcome) -> str:
    if isinstance(outcome, Retry):
        return "retry"
    return "fail" if isinstance(outcome, Fail) else "complete"


__all__ = ["LongPoll", "TaskService"]
