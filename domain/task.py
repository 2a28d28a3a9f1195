"""The task record and the request to create one."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from attrs import field, frozen

from leaseq.domain.lease import Lease
from leaseq.domain.retry import RetryPolicy

JSON = Any  # a value that json.dumps accepts: dict, list, str, int, float, bool, None


class TaskState(enum.StrEnum):
    PENDING = "pending"  # waiting or scheduled (run_at may lie in the future)
    LEASED = "leased"
    SUCCEEDED = "succeeded"
    DEAD = "dead"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset({TaskState.SUCCEEDED, TaskState.DEAD, TaskState.CANCELLED})

DEFAULT_MAX_ATTEMPTS = 20
DEFAULT_PRIORITY = 0
DEFAULT_TYPE_VERSION = 1


def _labels(value: Mapping[str, str]) -> dict[str, str]:
    return dict(value)


@frozen
class TaskSpec:
    """What a producer asks for; validated by `leaseq.domain.validation` before use.

    `run_at` is absolute; a relative delay is turned into `run_at` by the caller,
    who knows the clock.
    """

    queue: str
    type: str
    payload: JSON = None
    type_version: int = DEFAULT_TYPE_VERSION
    labels: dict[str, str] = field(factory=dict, converter=_labels)
    priority: int = DEFAULT_PRIORITY
    run_at: datetime | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    retry_policy: RetryPolicy = field(factory=RetryPolicy)
    idempotency_key: str | None = None


@frozen
class Task:
    """A task as stored. Values are immutable; every transition returns a new Task.

    `attempts` counts leases granted (a release gives one back); `epoch` counts every
    grant ever made and never goes back; `lease` is the most recent grant, kept after
    it ends so that late calls with its token get a precise refusal.
    """

    id: UUID
    queue: str
    type: str
    type_version: int
    payload: JSON
    labels: dict[str, str]
    priority: int
    run_at: datetime
    attempts: int
    max_attempts: int
    retry_policy: RetryPolicy
    idempotency_key: str | None
    state: TaskState
    epoch: int
    lease: Lease | None
    last_error: str | None
    result: JSON
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    def is_ready(self, now: datetime) -> bool:
        """Pending and due: a lease may be granted now."""
        return self.state is TaskState.PENDING and self.run_at <= now

    def has_live_lease(self, now: datetime) -> bool:
        return self.state is TaskState.LEASED and self.lease is not None and self.lease.is_live(now)

    def lease_is_due_to_expire(self, now: datetime) -> bool:
        return (
            self.state is TaskState.LEASED
            and self.lease is not None
            and not self.lease.is_live(now)
        )

    @property
    def attempts_left(self) -> int:
        return max(0, self.max_attempts - self.attempts)


@frozen
class Enqueued:
    """The answer to one enqueued spec: the task, and whether it already existed."""

    task: Task
    deduplicated: bool
