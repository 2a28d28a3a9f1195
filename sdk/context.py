"""TaskContext: what a handler knows about the task it runs and the lease it holds."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, MutableMapping
from typing import Any

from leaseq.sdk.types import LeaseInfo


class TaskLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Adds the task's fields to every record, merged with the call's own `extra`."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return msg, kwargs


class TaskContext:
    """Handed to every handler with the payload.

    `epoch` is the lease's fencing number: it grows with every grant of the task, so a
    side effect guarded by "only if my epoch is newer" refuses a stale worker's write.
    `deadline` (a `time.monotonic()` instant) is when the lease runs out unless a
    heartbeat renews it; `lease_lost` is set when the worker gives the task up (lease
    lost, task cancelled, deadline passed, shutdown), just before the handler is cancelled.
    Synchronous handlers, which cannot be cancelled, should check `lease_lost.is_set()`.
    """

    def __init__(self, lease: LeaseInfo, *, deadline: float, logger: logging.Logger) -> None:
        self.task_id = lease.task_id
        self.queue = lease.queue
        self.type = lease.type
        self.version = lease.type_version
        self.attempt = lease.attempt
        self.max_attempts = lease.max_attempts
        self.epoch = lease.epoch
        self.labels: Mapping[str, str] = dict(lease.labels)
        self.deadline = deadline
        self.lease_lost = asyncio.Event()
        self._base_logger = logger
        self._logger: TaskLogger | None = None

    @property
    def logger(self) -> TaskLogger:
        """A logger adding the task's fields to every record (built on first use)."""
        if self._logger is None:
            self._logger = TaskLogger(
                self._base_logger,
                {
                    "task_id": str(self.task_id),
                    "queue": self.queue,
                    "type": self.type,
                    "type_version": self.version,
                    "attempt": self.attempt,
                    "epoch": self.epoch,
                },
            )
        return self._logger

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts

    def time_left(self) -> float:
        """Seconds until the lease runs out unless renewed."""
        return self.deadline - time.monotonic()

    def __repr__(self) -> str:
        return (
            f"TaskContext(task_id={self.task_id}, type={self.type!r}, version={self.version}, "
            f"attempt={self.attempt}, epoch={self.epoch})"
        )


__all__ = ["TaskContext", "TaskLogger"]
