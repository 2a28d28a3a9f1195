"""leaseq's Python SDK: a client for producers and operators, and a worker for handlers."""

from leaseq.sdk.client import Client
from leaseq.sdk.context import TaskContext
from leaseq.sdk.errors import (
    FeatureUnavailable,
    Forbidden,
    InvalidTransition,
    LeaseConflict,
    LeaseExpired,
    LeaseLost,
    LeaseqClientError,
    PayloadTooLarge,
    ScheduleNotFound,
    ServiceUnavailable,
    TaskCancelled,
    TaskNotFound,
    TransportError,
    Unauthorized,
    ValidationFailed,
)
from leaseq.sdk.outcomes import Fatal, Retry
from leaseq.sdk.retrying import RetryRule
from leaseq.sdk.sync import SyncClient
from leaseq.sdk.transactional import enqueue_tx
from leaseq.sdk.types import (
    EnqueueResult,
    FlowLimits,
    LeaseInfo,
    QueueInfo,
    QueueState,
    RetrySettings,
    ScheduleInfo,
    TaskEventInfo,
    TaskInfo,
    TaskPage,
    TaskRequest,
)
from leaseq.sdk.worker import Worker

__all__ = [
    "Client",
    "EnqueueResult",
    "Fatal",
    "FeatureUnavailable",
    "FlowLimits",
    "Forbidden",
    "InvalidTransition",
    "LeaseConflict",
    "LeaseExpired",
    "LeaseInfo",
    "LeaseLost",
    "LeaseqClientError",
    "PayloadTooLarge",
    "QueueInfo",
    "QueueState",
    "Retry",
    "RetryRule",
    "RetrySettings",
    "ScheduleInfo",
    "ScheduleNotFound",
    "ServiceUnavailable",
    "SyncClient",
    "TaskCancelled",
    "TaskContext",
    "TaskEventInfo",
    "TaskInfo",
    "TaskNotFound",
    "TaskPage",
    "TaskRequest",
    "TransportError",
    "Unauthorized",
    "ValidationFailed",
    "Worker",
    "enqueue_tx",
]
