"""Plain TaskEvents observers of the app layer: nobody, and everybody in turn."""

from __future__ import annotations

from collections.abc import Sequence

from leaseq.domain import DomainError, Enqueued, ReportedTask, Task, Transition
from leaseq.ports import QueueStats, TaskEvents


class NoTaskEvents:
    """Tells nobody: the default when no observer is wired."""

    def transitioned(self, task: Task | ReportedTask, transition: Transition) -> None:
        return None

    def enqueued(self, answers: Sequence[Enqueued]) -> None:
        return None

    def refused(self, call: str, task_id: object, error: DomainError) -> None:
        return None

    def swept(self, expired: int) -> None:
        return None

    def queue_stats(self, stats: Sequence[QueueStats]) -> None:
        return None


class TaskEventsFanOut:
    """Tells each observer in turn."""

    def __init__(self, observers: Sequence[TaskEvents]) -> None:
        self._observers = tuple(observers)

    def transitioned(self, task: Task | ReportedTask, transition: Transition) -> None:
        for observer in self._observers:
            observer.transitioned(task, transition)

    def enqueued(self, answers: Sequence[Enqueued]) -> None:
        for observer in self._observers:
            observer.enqueued(answers)

    def refused(self, call: str, task_id: object, error: DomainError) -> None:
        for observer in self._observers:
            observer.refused(call, task_id, error)

    def swept(self, expired: int) -> None:
        for observer in self._observers:
            observer.swept(expired)

    def queue_stats(self, stats: Sequence[QueueStats]) -> None:
        for observer in self._observers:
            observer.queue_stats(stats)
