"""The slice of a task store the race actors use, spoken over HTTP through the SDK transport.

Answers are shaped like the store's (`task.lease.token`, `after.updated_at`, …) and
refusals are raised as domain errors carrying the API's code, so the actors in actors.py
hammer a real service unchanged and write the same history.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from attrs import frozen

from leaseq.domain import DomainError, TaskState
from leaseq.ports import LeaseRequest
from leaseq.sdk import errors
from leaseq.sdk.transport.http import HttpTransport
from leaseq.sdk.types import LeaseRequest as WireLeaseRequest
from leaseq.sdk.types import TaskInfo, TypeVersion


@frozen
class WireLease:
    token: str
    epoch: int
    expires_at: datetime


@frozen
class WireTask:
    id: UUID
    state: TaskState
    lease: WireLease | None
    updated_at: datetime


class HttpTaskStore:
    def __init__(self, url: str) -> None:
        self._http = HttpTransport(url)

    async def lease(self, request: LeaseRequest) -> list[WireTask]:
        leases = await self._http.lease(
            WireLeaseRequest(
                queue=request.queue,
                worker_id=request.owner,
                types=None
                if request.types is None
                else tuple(TypeVersion(t.type, t.version) for t in request.types),
                max_tasks=request.limit,
                lease_seconds=request.lease_for.total_seconds(),
            )
        )
        return [
            WireTask(
                lease.task_id,
                TaskState.LEASED,
                WireLease(lease.token, lease.epoch, lease.expires_at),
                lease.expires_at,
            )
            for lease in leases
        ]

    async def heartbeat(self, task_id: UUID, token: str, *, lease_for: timedelta) -> WireTask:
        with _refusals():
            renewal = await self._http.heartbeat(task_id, token, lease_for.total_seconds())
        lease = WireLease(token, renewal.epoch, renewal.expires_at)
        return WireTask(task_id, TaskState.LEASED, lease, renewal.expires_at)

    async def complete(self, task_id: UUID, token: str, result: object) -> WireTask:
        with _refusals():
            return _task(await self._http.complete(task_id, token, result))  # type: ignore[arg-type]

    async def retry(self, task_id: UUID, token: str, error: str, *, delay: timedelta) -> WireTask:
        with _refusals():
            return _task(await self._http.retry(task_id, token, error, delay.total_seconds()))

    async def fail(self, task_id: UUID, token: str, error: str) -> WireTask:
        with _refusals():
            return _task(await self._http.fail(task_id, token, error))

    async def release(self, task_id: UUID, token: str) -> WireTask:
        with _refusals():
            return _task(await self._http.release(task_id, token))

    async def close(self) -> None:
        await self._http.aclose()


def _task(info: TaskInfo) -> WireTask:
    return WireTask(info.id, TaskState(info.state), None, info.updated_at)


class _refusals:
    """A 409/404 answer becomes a DomainError with the answer's code."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, tb: object) -> None:
        if isinstance(error, errors.LeaseqClientError) and not isinstance(
            error, errors.TransportError | errors.ServiceUnavailable
        ):
            refusal = DomainError(str(error))
            refusal.code = error.code
            raise refusal from error
