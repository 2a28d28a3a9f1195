"""The domain's exception root and its typed errors; every adapter raises these."""

from __future__ import annotations

from uuid import UUID


class LeaseqError(Exception):
    """Root of every error leaseq raises on purpose."""

    code = "leaseq_error"


class DomainError(LeaseqError):
    """A request the domain refuses; `code` is the stable name used on every boundary."""

    code = "domain_error"


class TaskNotFound(DomainError):
    code = "task_not_found"

    def __init__(self, task_id: UUID | str) -> None:
        super().__init__(f"task {task_id} does not exist")
        self.task_id = task_id


class LeaseConflict(DomainError):
    """A fenced call (heartbeat, complete, retry, fail, release) was refused."""

    code = "lease_conflict"

    def __init__(self, task_id: UUID, message: str) -> None:
        super().__init__(message)
        self.task_id = task_id


class LeaseLost(LeaseConflict):
    """The token is not the task's current live lease: wrong, superseded, or already used."""

    code = "lease_lost"

    def __init__(self, task_id: UUID) -> None:
        super().__init__(task_id, f"the token does not hold the current lease of task {task_id}")


class LeaseExpired(LeaseConflict):
    """The token was the task's lease, but that lease ran out."""

    code = "lease_expired"

    def __init__(self, task_id: UUID) -> None:
        super().__init__(task_id, f"the lease on task {task_id} has expired")


class TaskCancelled(LeaseConflict):
    """The task was cancelled; its lease was revoked at that moment."""

    code = "task_cancelled"

    def __init__(self, task_id: UUID) -> None:
        super().__init__(task_id, f"task {task_id} was cancelled")


class InvalidTransition(DomainError):
    """The transition does not apply to the task's current state (e.g. requeue when pending)."""

    code = "invalid_transition"

    def __init__(self, task_id: UUID, transition: str, state: str) -> None:
        super().__init__(f"cannot {transition} task {task_id} in state {state}")
        self.task_id = task_id
        self.transition = transition
        self.state = state


class ValidationError(DomainError):
    """Bad input, refused before anything is written. `field` names the offending input."""

    code = "validation_error"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class PayloadTooLarge(ValidationError):
    code = "payload_too_large"

    def __init__(self, field: str, size: int, limit: int) -> None:
        super().__init__(field, f"{size} bytes exceeds the limit of {limit} bytes")
        self.size = size
        self.limit = limit


class ScheduleNotFound(DomainError):
    code = "schedule_not_found"

    def __init__(self, name: str) -> None:
        super().__init__(f"schedule {name} does not exist")
        self.name = name
