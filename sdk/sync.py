"""SyncClient: the client for scripts and synchronous code (not for use inside an event loop)."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Awaitable, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

from leaseq.sdk.client import Client
from leaseq.sdk.retrying import DEFAULT_RETRIES, RetryRule
from leaseq.sdk.transport.base import TaskId, Transport
from leaseq.sdk.types import (
    EnqueueResult,
    QueueInfo,
    QueueState,
    ScheduleInfo,
    TaskInfo,
    TaskPage,
    TaskRequest,
)

T = TypeVar("T")


class SyncClient:
    """The same calls as `Client`, blocking. It owns a private event loop; close it (or
    use it as a context manager) to release the connections."""

    def __init__(
        self,
        url_or_transport: str | Transport,
        token: str | None = None,
        *,
        timeout: float = 10.0,
        retries: RetryRule = DEFAULT_RETRIES,
    ) -> None:
        self._runner = asyncio.Runner()
        self._client = Client(url_or_transport, token, timeout=timeout, retries=retries)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._run(self._client.aclose())
        finally:
            self._runner.close()

    def _run(self, awaitable: Awaitable[T]) -> T:
        async def call() -> T:
            return await awaitable

        return self._runner.run(call())

    def enqueue(self, queue: str, type: str, payload: Any = None, **options: Any) -> EnqueueResult:
        return self._run(self._client.enqueue(queue, type, payload, **options))

    def enqueue_many(self, requests: Sequence[TaskRequest]) -> builtins.list[EnqueueResult]:
        return self._run(self._client.enqueue_many(requests))

    def get(self, task_id: TaskId) -> TaskInfo:
        return self._run(self._client.get(task_id))

    def list(self, **filters: Any) -> TaskPage:
        return self._run(self._client.list(**filters))

    def cancel(self, task_id: TaskId) -> TaskInfo:
        return self._run(self._client.cancel(task_id))

    def requeue(self, task_id: TaskId) -> TaskInfo:
        return self._run(self._client.requeue(task_id))

    def stats(self, queue: str | None = None) -> builtins.list[QueueInfo]:
        return self._run(self._client.stats(queue))

    def queue(self, queue: str) -> QueueState:
        return self._run(self._client.queue(queue))

    def pause(self, queue: str) -> QueueState:
        return self._run(self._client.pause(queue))

    def resume(self, queue: str) -> QueueState:
        return self._run(self._client.resume(queue))

    def set_limits(self, queue: str, **limits: Any) -> QueueState:
        return self._run(self._client.set_limits(queue, **limits))

    def set_schedule(
        self, name: str, cron: str, queue: str, type: str, payload: Any = None, **options: Any
    ) -> ScheduleInfo:
        return self._run(self._client.set_schedule(name, cron, queue, type, payload, **options))

    def schedule(self, name: str) -> ScheduleInfo:
        return self._run(self._client.schedule(name))

    def schedules(self) -> builtins.list[ScheduleInfo]:
        return self._run(self._client.schedules())

    def delete_schedule(self, name: str) -> ScheduleInfo:
        return self._run(self._client.delete_schedule(name))

    def wait(self, task_id: TaskId, *, timeout: float | None = None) -> TaskInfo:
        return self._run(self._client.wait(task_id, timeout=timeout))

    def wait_for(self, task_id: TaskId, *, timeout: float = 30.0) -> TaskInfo:
        return self._run(self._client.wait_for(task_id, timeout=timeout))


__all__ = ["SyncClient"]
