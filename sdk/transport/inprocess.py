"""In-process transport: calls the service's use cases directly, no server in between.

Users embed the whole queue (e.g. `TaskService` over the in-memory store) in their own
programs and tests; domain errors become the same SDK exceptions the HTTP transport raises.
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Awaitable, Iterator, Sequence
from datetime import timedelta
from typing import Any, TypeVar
from uuid import UUID

from leaseq import domain, ports
from leaseq.app.queue_control import QueueAdmin, QueueView
from leaseq.app.schedules import ScheduleService
from leaseq.app.services import TaskService
from leaseq.sdk import errors as sdk_errors
from leaseq.sdk.transport.base import MAX_AWAIT, TaskId
from leaseq.sdk.types import (
    JSON,
    EnqueueResult,
    FlowLimits,
    LeaseHolder,
    LeaseInfo,
    LeaseRenewal,
    LeaseRequest,
    Outcome,
    QueueInfo,
    QueueState,
    Reported,
    RetrySettings,
    ScheduleInfo,
    TaskEventInfo,
    TaskInfo,
    TaskPage,
    TaskRequest,
    TaskStateName,
)

T = TypeVar("T")

# The one translation table of this boundary: domain/port error → SDK error.
_ERRORS: dict[type[Exception], type[sdk_errors.LeaseqClientError]] = {
    domain.TaskNotFound: sdk_errors.TaskNotFound,
    domain.ScheduleNotFound: sdk_errors.ScheduleNotFound,
    domain.LeaseLost: sdk_errors.LeaseLost,
    domain.LeaseExpired: sdk_errors.LeaseExpired,
    domain.TaskCancelled: sdk_errors.TaskCancelled,
    domain.InvalidTransition: sdk_errors.InvalidTransition,
    domain.PayloadTooLarge: sdk_errors.PayloadTooLarge,
    domain.ValidationError: sdk_errors.ValidationFailed,
    ports.StoreUnavailable: sdk_errors.ServiceUnavailable,
}


def translate(error: domain.LeaseqError) -> sdk_errors.LeaseqClientError:
    sdk_cls = next(
        (_ERRORS[c] for c in type(error).__mro__ if c in _ERRORS), sdk_errors.LeaseqClientError
    )
    extensions: dict[str, object] = {}
    if isinstance(error, domain.ValidationError):
        extensions["errors"] = [{"field": error.field, "message": error.message}]
    if isinstance(error, domain.ScheduleNotFound):
        extensions["name"] = error.name
    task_id = getattr(error, "task_id", None)
    return sdk_cls(
        str(error), task_id=None if task_id is None else str(task_id), extensions=extensions
    )


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except domain.LeaseqError as error:
        raise translate(error) from error


async def _call(awaitable: Awaitable[T]) -> T:
    with _translated():
        return await awaitable


def _task_id(value: TaskId) -> UUID:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        raise sdk_errors.TaskNotFound(f"task {value} does not exist", task_id=str(value)) from None


class InProcessTransport:
    """`queues` and `schedules` serve the operator calls on queues and schedules (a
    `Runtime` has both); without them those calls raise FeatureUnavailable."""

    def __init__(
        self,
        service: TaskService,
        *,
        queues: QueueAdmin | None = None,
        schedules: ScheduleService | None = None,
    ) -> None:
        self._service = service
        self._queues = queues
        self._schedules = schedules

    async def enqueue(self, tasks: Sequence[TaskRequest]) -> builtins.list[EnqueueResult]:
        with _translated():
            specs = [_spec(t) for t in tasks]
        answers = await _call(self._service.enqueue(specs))
        return [EnqueueResult(a.task_id, _state_name(a.state), a.deduplicated) for a in answers]

    async def lease(self, request: LeaseRequest) -> builtins.list[LeaseInfo]:
        granted, waited = await _call(
            self._service.lease_timed(_lease_request(request), request.wait_seconds)
        )
        return [_lease_info(task, waited) for task in granted]

    async def lease_and_report(
        self, request: LeaseRequest, outcomes: Sequence[Outcome]
    ) -> tuple[builtins.list[LeaseInfo], builtins.list[Reported | sdk_errors.LeaseqClientError]]:
        answers, granted = await _call(
            self._service.report_and_lease([_outcome(o) for o in outcomes], _lease_request(request))
        )
        return [_lease_info(task, 0.0) for task in granted], _reported(answers)

    async def heartbeat(self, task_id: TaskId, token: str, lease_seconds: float) -> LeaseRenewal:
        task = await _call(
            self._service.heartbeat(_task_id(task_id), token, timedelta(seconds=lease_seconds))
        )
        assert task.lease is not None
        return LeaseRenewal(task.id, task.epoch, task.lease.expires_at)

    async def report(
        self, outcomes: Sequence[Outcome]
    ) -> builtins.list[Reported | sdk_errors.LeaseqClientError]:
        return _reported(await _call(self._service.report([_outcome(o) for o in outcomes])))

    async def complete(self, task_id: TaskId, token: str, result: JSON = None) -> TaskInfo:
        return task_info(await _call(self._service.complete(_task_id(task_id), token, result)))

    async def retry(
        self, task_id: TaskId, token: str, error: str, delay_seconds: float | None = None
    ) -> TaskInfo:
        delay = None if delay_seconds is None else timedelta(seconds=delay_seconds)
        return task_info(await _call(self._service.retry(_task_id(task_id), token, error, delay)))

    async def fail(self, task_id: TaskId, token: str, error: str) -> TaskInfo:
        return task_info(await _call(self._service.fail(_task_id(task_id), token, error)))

    async def release(self, task_id: TaskId, token: str) -> TaskInfo:
        return task_info(await _call(self._service.release(_task_id(task_id), token)))

    async def get(self, task_id: TaskId) -> TaskInfo:
        return task_info(await _call(self._service.get(_task_id(task_id))))

    async def wait(self, task_id: TaskId, wait_seconds: float) -> TaskInfo:
        wait = min(max(wait_seconds, 0.0), MAX_AWAIT)
        return task_info(await _call(self._service.wait(_task_id(task_id), wait)))

    async def list(
        self,
        *,
        queue: str | None = None,
        state: TaskStateName | None = None,
        type: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> TaskPage:
        with _translated():
            try:
                state_value = None if state is None else domain.TaskState(state)
            except ValueError:
                raise domain.ValidationError("state", f"unknown state {state!r}") from None
        page = await _call(
            self._service.list(ports.TaskFilter(queue, state_value, type, limit, cursor))
        )
        return TaskPage([task_info(t) for t in page.tasks], page.next_cursor)

    async def history(self, task_id: TaskId, limit: int = 100) -> builtins.list[TaskEventInfo]:
        events = await _call(self._service.history(_task_id(task_id), limit))
        return [_event_info(e) for e in events]

    async def cancel(self, task_id: TaskId) -> TaskInfo:
        return task_info(await _call(self._service.cancel(_task_id(task_id))))

    async def requeue(self, task_id: TaskId) -> TaskInfo:
        return task_info(await _call(self._service.requeue(_task_id(task_id))))

    async def stats(self, queue: str | None = None) -> builtins.list[QueueInfo]:
        return [_queue_info(s) for s in await _call(self._service.stats(queue))]

    async def queue(self, queue: str) -> QueueState:
        return _queue_state(await _call(self._queue_admin().queue(queue)))

    async def set_paused(self, queue: str, paused: bool) -> QueueState:
        admin = self._queue_admin()
        view = await _call(admin.pause(queue) if paused else admin.resume(queue))
        return _queue_state(view)

    async def set_limits(self, queue: str, limits: FlowLimits) -> QueueState:
        admin = self._queue_admin()
        wanted = domain.QueueLimits(
            limits.concurrency, limits.concurrency_per_key, limits.rate_per_second
        )
        return _queue_state(await _call(admin.set_limits(queue, wanted)))

    async def put_schedule(
        self, name: str, cron: str, timezone: str, task: TaskRequest
    ) -> ScheduleInfo:
        with _translated():
            spec = domain.ScheduleSpec(name, cron, timezone, _spec(task))
        schedule, _ = await _call(self._schedule_service().put(spec))
        return _schedule_info(schedule)

    async def schedule(self, name: str) -> ScheduleInfo:
        return _schedule_info(await _call(self._schedule_service().get(name)))

    async def schedules(self) -> builtins.list[ScheduleInfo]:
        return [_schedule_info(s) for s in await _call(self._schedule_service().list())]

    async def delete_schedule(self, name: str) -> ScheduleInfo:
        return _schedule_info(await _call(self._schedule_service().delete(name)))

    def _queue_admin(self) -> QueueAdmin:
        if self._queues is None:
            raise sdk_errors.FeatureUnavailable(
                "this InProcessTransport has no queue administration: pass queues=QueueAdmin(store)"
            )
        return self._queues

    def _schedule_service(self) -> ScheduleService:
        if self._schedules is None:
            raise sdk_errors.FeatureUnavailable(
                "this InProcessTransport has no schedules: pass schedules=ScheduleService(...)"
            )
        return self._schedules

    async def aclose(self) -> None:
        return None


def _spec(request: TaskRequest) -> domain.TaskSpec:
    # A delay travels to the store, which adds it to its own clock (ADR 0003).
    delay = None if request.delay_seconds is None else timedelta(seconds=request.delay_seconds)
    retry = request.retry or RetrySettings()
    return domain.TaskSpec(
        queue=request.queue,
        type=request.type,
        payload=request.payload,
        type_version=request.version,
        labels=request.labels,
        priority=request.priority,
        run_at=request.run_at,
        delay=delay,
        max_attempts=request.max_attempts,
        retry_policy=domain.RetryPolicy(
            retry.base_seconds, retry.factor, retry.max_seconds, retry.jitter
        ),
        idempotency_key=request.idempotency_key,
        concurrency_key=request.concurrency_key,
    )


def _outcome(outcome: Outcome) -> ports.Outcome:
    task_id = _task_id(outcome.task_id)
    if outcome.kind == "complete":
        return ports.Complete(task_id, outcome.token, outcome.result)
    if outcome.kind == "retry":
        delay = None if outcome.delay_seconds is None else timedelta(seconds=outcome.delay_seconds)
        return ports.Retry(task_id, outcome.token, outcome.error or "", delay)
    return ports.Fail(task_id, outcome.token, outcome.error or "")


def _state(task: domain.Task) -> TaskStateName:
    return task.state.value  # type: ignore[return-value,unused-ignore]


def task_info(task: domain.Task) -> TaskInfo:
    lease = task.lease if task.state is domain.TaskState.LEASED else None
    return TaskInfo(
        id=task.id,
        queue=task.queue,
        type=task.type,
        type_version=task.type_version,
        payload=task.payload,
        labels=dict(task.labels),
        priority=task.priority,
        run_at=task.run_at,
        attempts=task.attempts,
        max_attempts=task.max_attempts,
        retry=_retry_settings(task.retry_policy),
        idempotency_key=task.idempotency_key,
        concurrency_key=task.concurrency_key,
        state=_state(task),
        epoch=task.epoch,
        lease=None if lease is None else LeaseHolder(lease.owner, lease.epoch, lease.expires_at),
        last_error=task.last_error,
        result=task.result,
        created_at=task.created_at,
        updated_at=task.updated_at,
        finished_at=task.finished_at,
    )


def _retry_settings(policy: domain.RetryPolicy) -> RetrySettings:
    return RetrySettings(policy.base_seconds, policy.factor, policy.max_seconds, policy.jitter)


def _lease_info(task: domain.Task, waited_seconds: float) -> LeaseInfo:
    assert task.lease is not None
    return LeaseInfo(
        task_id=task.id,
        token=task.lease.token,
        epoch=task.lease.epoch,
        expires_at=task.lease.expires_at,
        attempt=task.attempts,
        max_attempts=task.max_attempts,
        queue=task.queue,
        type=task.type,
        type_version=task.type_version,
        payload=task.payload,
        labels=dict(task.labels),
        priority=task.priority,
        created_at=task.created_at,
        waited_seconds=waited_seconds,
    )


def _state_name(state: domain.TaskState) -> TaskStateName:
    return state.value  # type: ignore[return-value,unused-ignore]


def _event_info(event: domain.TaskEvent) -> TaskEventInfo:
    return TaskEventInfo(
        at=event.at,
        transition=event.transition.value,
        from_state=None if event.from_state is None else _state_name(event.from_state),
        to_state=_state_name(event.to_state),
        attempt=event.attempt,
        epoch=event.epoch,
        worker=event.worker,
        error=event.error,
    )


def _queue_info(stats: ports.QueueStats) -> QueueInfo:
    return QueueInfo(**_queue_fields(stats))


def _queue_state(view: QueueView) -> QueueState:
    settings = view.settings
    limits = settings.limits
    per_key = view.live_per_key
    return QueueState(
        **_queue_fields(view.stats),
        paused=settings.paused,
        paused_at=settings.paused_at,
        limits=FlowLimits(limits.concurrency, limits.concurrency_per_key, limits.rate_per_second),
        live_leases=view.stats.live_leases,
        live_per_key=None if per_key is None else dict(sorted(per_key.items())),
    )


def _queue_fields(stats: ports.QueueStats) -> dict[str, Any]:
    age = stats.oldest_ready_age
    return {
        "queue": stats.queue,
        "counts": {state.value: count for state, count in stats.counts.items()},
        "ready": stats.ready,
        "scheduled": stats.scheduled,
        "oldest_ready_age_seconds": None if age is None else age.total_seconds(),
        "succeeded_last_minute": stats.succeeded_last_minute,
        "dead_last_minute": stats.dead_last_minute,
    }


def _schedule_info(schedule: domain.Schedule) -> ScheduleInfo:
    template = schedule.task
    return ScheduleInfo(
        name=schedule.name,
        cron=schedule.cron,
        timezone=schedule.timezone,
        task=TaskRequest(
            queue=template.queue,
            type=template.type,
            payload=template.payload,
            version=template.type_version,
            labels=dict(template.labels),
            priority=template.priority,
            max_attempts=template.max_attempts,
            retry=_retry_settings(template.retry_policy),
            concurrency_key=template.concurrency_key,
        ),
        next_fire_at=schedule.next_fire_at,
        last_fire_at=schedule.last_fire_at,
        last_task_id=schedule.last_task_id,
        revision=schedule.revision,
        created_at=schedule.created_at,
        updated_at=schedule.updated_at,
    )


def _lease_request(request: LeaseRequest) -> ports.LeaseRequest:
    return ports.LeaseRequest(
        queue=request.queue,
        owner=request.worker_id,
        limit=request.max_tasks,
        lease_for=timedelta(seconds=request.lease_seconds),
        types=None
        if request.types is None
        else [ports.TypeFilter(t.type, t.version) for t in request.types],
        request_id=request.request_id,
        repeat=request.repeat,
    )


def _reported(
    answers: Sequence[domain.ReportedTask | domain.DomainError],
) -> builtins.list[Reported | sdk_errors.LeaseqClientError]:
    return [
        translate(a)
        if isinstance(a, domain.LeaseqError)
        else Reported(a.id, a.state.value, a.updated_at)
        for a in answers
    ]


__all__ = ["InProcessTransport", "task_info", "translate"]
