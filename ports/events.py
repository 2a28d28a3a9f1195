"""The task-events port: what the use cases tell observers (metrics, logs) as it happens.

Called on the request path, so implementations must be cheap and never block or raise:
count, format a log record, nothing more.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from leaseq.domain import DomainError, Enqueued, ReportedTask, Task, Transition
from leaseq.ports.tasks import QueueStats


class TaskEvents(Protocol):
    def transitioned(self, task: Task | ReportedTask, transition: Transition) -> None:
        """`task` (as it now stands) just went through `transition`. A report's outcome
        comes as a `ReportedTask`, its fields only (the whole task when the service was
        built with `whole_reports`, ADR 0037)."""
        ...

    def enqueued(self, answers: Sequence[Enqueued]) -> None:
        """A batch was enqueued: each answer not deduplicated is a task that went through
        `Transition.ENQUEUED` (one call a batch: an observer may count it at once)."""
        ...

    def refused(self, call: str, task_id: object, error: DomainError) -> None:
        """A fenced call (heartbeat, complete, retry, fail, release) was refused: a stale
        token, an expired lease or a cancelled task (`error.code` names which)."""
        ...

    def swept(self, expired: int) -> None:
        """The expiry sweep moved `expired` tasks whose lease ran out."""
        ...

    def queue_stats(self, stats: Sequence[QueueStats]) -> None:
        """A fresh reading of every queue's counts (from the periodic refresher)."""
        ...
