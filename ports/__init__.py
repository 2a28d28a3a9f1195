"""Ports: the Protocols the use cases depend on; adapters implement them."""

from leaseq.domain.claims import LeaseRequest, TypeFilter
from leaseq.ports.clock import Clock
from leaseq.ports.errors import SchemaOutOfDate, StoreError, StoreUnavailable
from leaseq.ports.events import TaskEvents
from leaseq.ports.ids import IdGenerator, JitterSource, TokenGenerator
from leaseq.ports.notify import Notifier
from leaseq.ports.tasks import (
    Complete,
    Fail,
    Outcome,
    QueueStats,
    Retry,
    TaskFilter,
    TaskPage,
    TaskStore,
)

__all__ = [
    "Clock",
    "Complete",
    "Fail",
    "IdGenerator",
    "JitterSource",
    "LeaseRequest",
    "Notifier",
    "Outcome",
    "QueueStats",
    "Retry",
    "SchemaOutOfDate",
    "StoreError",
    "StoreUnavailable",
    "TaskEvents",
    "TaskFilter",
    "TaskPage",
    "TaskStore",
    "TokenGenerator",
    "TypeFilter",
]
