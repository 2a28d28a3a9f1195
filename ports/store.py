"""Everything the service needs from one store: tasks, queue settings, awaiting, schedules."""

from __future__ import annotations

from typing import Protocol

from leaseq.ports.awaiting import TaskWatch
from leaseq.ports.queues import QueueControl
from leaseq.ports.schedules import ScheduleStore
from leaseq.ports.tasks import TaskStore


class ServiceStore(TaskStore, TaskWatch, QueueControl, ScheduleStore, Protocol):
    """A TaskStore that also keeps queue settings and schedules and can be awaited."""
