"""leaseq's pure domain: the task, its lease, the retry policy and every transition.

Imports only the standard library and attrs; time, ids, tokens and jitter are arguments.
"""

from leaseq.domain.errors import (
    DomainError,
    InvalidTransition,
    LeaseConflict,
    LeaseExpired,
    LeaseLost,
    LeaseqError,
    PayloadTooLarge,
    ScheduleNotFound,
    TaskCancelled,
    TaskNotFound,
    ValidationError,
)
from leaseq.domain.history import TaskEvent, Transition
from leaseq.domain.lease import Lease
from leaseq.domain.limits import FlowState, LiveLeases, QueueLimits
from leaseq.domain.queue import QueueSettings
from leaseq.domain.repeats import ReportRepeated
from leaseq.domain.retry import RetryPolicy
from leaseq.domain.schedule import Firing, Schedule, ScheduleSpec
from leaseq.domain.task import (
    JSON,
    TERMINAL_STATES,
    Enqueued,
    NewTasks,
    ReportedTask,
    ReportRecord,
    Task,
    TaskSpec,
    TaskState,
)
from leaseq.domain.validation import DEFAULT_LIMITS, Limits

__all__ = [
    "DEFAULT_LIMITS",
    "JSON",
    "TERMINAL_STATES",
    "DomainError",
    "Enqueued",
    "Firing",
    "FlowState",
    "InvalidTransition",
    "Lease",
    "LeaseConflict",
    "LeaseExpired",
    "LeaseLost",
    "LeaseqError",
    "Limits",
    "LiveLeases",
    "NewTasks",
    "PayloadTooLarge",
    "QueueLimits",
    "QueueSettings",
    "ReportRecord",
    "ReportRepeated",
    "ReportedTask",
    "RetryPolicy",
    "Schedule",
    "ScheduleNotFound",
    "ScheduleSpec",
    "Task",
    "TaskCancelled",
    "TaskEvent",
    "TaskNotFound",
    "TaskSpec",
    "TaskState",
    "Transition",
    "ValidationError",
]
