"""The awaiting port: a store that must be told which tasks are awaited before it
announces their final state (see `Notifier.final_event`)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable
from uuid import UUID

from leaseq.domain import Task


@runtime_checkable
class TaskWatch(Protocol):
    async def watch(self, task_id: UUID) -> Task:
        """Mark the task as awaited, so that its move to a final state (succeeded, dead,
        cancelled) is announced on the notifier; returns the task as it now stands.
        Raises TaskNotFound. A store that announces every final state needs no mark."""
        ...
