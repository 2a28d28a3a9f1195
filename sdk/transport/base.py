"""The transport port: everything the client and the worker need from the queue.

A transport raises only `leaseq.sdk.errors` exceptions, so a new transport plugs in
without touching the client or the worker. Task ids may be given as UUID or string;
a string that is not a UUID names no task (TaskNotFound). A transport sends each call
once: what is sent again after a lost answer is decided per call by the client and the
worker (`leaseq.sdk.resends`).
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Protocol
from uuid import UUID

from leaseq.sdk.errors import LeaseqClientError
from leaseq.sdk.types import (
    JSON,
    EnqueueResult,
    FlowLimits,
    LeaseInfo,
    LeaseRenewal,
    LeaseRequest,
    Outcome,
    QueueInfo,
    QueueState,
    Reported,
    ScheduleInfo,
    TaskEventInfo,
    TaskInfo,
    TaskPage,
    TaskRequest,
    TaskStateName,
)

TaskId = UUID | str
FINAL_STATES = frozenset({"succeeded", "dead", "cancelled"})
MAX_AWAIT = 60.0  # the longest wait_seconds of GET /v1/tasks/{id}


class Transport(Protocol):
    # producers
    async def enqueue(self, tasks: Sequence[TaskRequest]) -> builtins.list[EnqueueResult]:
        """Create tasks atomically, answers in order. Raises ValidationFailed, PayloadTooLarge."""
        ...

    # workers
    async def lease(self, request: LeaseRequest) -> builtins.list[LeaseInfo]:
        """Claim up to `request.max_tasks` ready tasks (long-polling up to wait_seconds).
        Each lease says how long the request waited before the grant (`waited_seconds`);
        a `repeat` of a `request_id` is answered with that request's live grants."""
        ...

    async def lease_and_report(
        self, request: LeaseRequest, outcomes: Sequence[Outcome]
    ) -> tuple[builtins.list[LeaseInfo], builtins.list[Reported | LeaseqClientError]]:
        """`report(outcomes)` and then `lease(request)` in one call, never waiting (a long
        poll would hold the outcomes' answers back): the leases, and the outcomes' answers
        in order. A request refused as a whole applies none of the outcomes (ADR 0033)."""
        ...

    async def heartbeat(self, task_id: TaskId, token: str, lease_seconds: float) -> LeaseRenewal:
        """Extend a live lease. Raises LeaseLost, LeaseExpired, TaskCancelled, TaskNotFound."""
        ...

    async def report(
        self, outcomes: Sequence[Outcome]
    ) -> builtins.list[Reported | LeaseqClientError]:
        """Apply many outcomes; answers in order, each the task's new state or the refusal
        for that one."""
        ...

    async def complete(self, task_id: TaskId, token: str, result: JSON = None) -> TaskInfo: ...

    async def retry(
        self, task_id: TaskId, token: str, error: str, delay_seconds: float | None = None
    ) -> TaskInfo: ...

    async def fail(self, task_id: TaskId, token: str, error: str) -> TaskInfo: ...

    async def release(self, task_id: TaskId, token: str) -> TaskInfo:
        """Give a leased task back without consuming its attempt (graceful shutdown)."""
        ...

    # operators
    async def get(self, task_id: TaskId) -> TaskInfo: ...

    async def wait(self, task_id: TaskId, wait_seconds: float) -> TaskInfo:
        """The task as soon as it is final, or as it stands after `wait_seconds` (at most
        MAX_AWAIT). Raises TaskNotFound."""
        ...

    async def list(
        self,
        *,
        queue: str | None = None,
        state: TaskStateName | None = None,
        type: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> TaskPage: ...

    async def history(self, task_id: TaskId, limit: int = 100) -> builtins.list[TaskEventInfo]:
        """The task's most recent transitions, oldest first. Raises TaskNotFound."""
        ...

    async def cancel(self, task_id: TaskId) -> TaskInfo: ...

    async def requeue(self, task_id: TaskId) -> TaskInfo: ...

    async def stats(self, queue: str | None = None) -> builtins.list[QueueInfo]:
        """Counts per queue; one queue when named (TaskNotFound is never raised)."""
        ...

    # operators: queues and schedules (admin scope over HTTP)
    async def queue(self, queue: str) -> QueueState:
        """One queue's counts and settings (zeros for a queue never used)."""
        ...

    async def set_paused(self, queue: str, paused: bool) -> QueueState:
        """Pause (no lease granted; enqueue goes on) or resume a queue. Idempotent."""
        ...

    async def set_limits(self, queue: str, limits: FlowLimits) -> QueueState:
        """Replace a queue's flow-control limits (all three; None lifts one), in force at
        once on every replica. Idempotent. Raises ValidationFailed."""
        ...

    async def put_schedule(
        self, name: str, cron: str, timezone: str, task: TaskRequest
    ) -> ScheduleInfo:
        """Create or replace a schedule. Raises ValidationFailed (a bad rule, time zone or
        template; a template's run_at, delay or idempotency key)."""
        ...

    async def schedule(self, name: str) -> ScheduleInfo:
        """Raises ScheduleNotFound."""
        ...

    async def schedules(self) -> builtins.list[ScheduleInfo]: ...

    async def delete_schedule(self, name: str) -> ScheduleInfo:
        """The schedule as it was. Raises ScheduleNotFound."""
        ...

    async def aclose(self) -> None: ...


__all__ = ["FINAL_STATES", "MAX_AWAIT", "TaskId", "Transport"]
