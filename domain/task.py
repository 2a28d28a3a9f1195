"""The task record and the request to create one."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, overload
from uuid import UUID

from attrs import evolve, field, frozen

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

    `run_at` is absolute; `delay` is relative to the instant the store enqueues the task,
    by the store's own clock (ADR 0003): give one or neither. Neither: ready at once.
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
    delay: timedelta | None = None  # late: positional construction predates it
    # Groups tasks for flow control (ADR 0030): a per-key cap and round-robin across keys.
    concurrency_key: str | None = None


@frozen
class ReportRecord:
    """The report that ended a lease of the task, and the task as that report left it
    (see `leaseq.domain.repeats`).

    `fingerprint` identifies the report (token, outcome and content); `state`, `at` (its
    updated_at), `epoch`, `attempts`, `run_at` and `last_error` are the task's fields
    right after it. The task's other fields either never change (queue, payload, ...) or
    follow from these: `finished_at` is `at` when the state is terminal, else None;
    `result` is the task's own when it succeeded (terminal), else None; no lease.
    """

    fingerprint: str
    state: TaskState
    at: datetime
    epoch: int
    attempts: int
    run_at: datetime
    last_error: str | None


@frozen
class Task:
    """A task as stored. Values are immutable; every transition returns a new Task.

    `attempts` counts leases granted (a release gives one back); `epoch` counts every
    grant ever made and never goes back; `lease` is the most recent grant, kept after
    it ends so that late calls with its token get a precise refusal. `last_report` is the
    report that ended the most recent report-ended lease, so that a repeat of it gets
    the first answer again (`leaseq.domain.repeats`).
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
    last_report: ReportRecord | None = None
    concurrency_key: str | None = None  # the spec's (ADR 0030)

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
class ReportedTask:
    """A task as an accepted report (complete, retry or fail) left it: what a worker's
    answer and the service's observers read, without the rest of its row (ADR 0037).

    A report's answer goes to the worker that sent it, which needs only the state; reading
    and building the whole task for it (payload, labels, result, policy, the report record)
    was about a fifth of the service's CPU per task (bench/RESULTS.md, issue 21 stop 33).
    `task` is the whole task as the report left it, only when the caller asked for it.
    """

    id: UUID
    queue: str
    type: str
    state: TaskState
    attempts: int
    epoch: int
    last_error: str | None
    updated_at: datetime
    task: Task | None = None

    @classmethod
    def of(cls, task: Task, *, whole: bool = False) -> ReportedTask:
        """`task`'s answer; with `whole`, carrying `task` itself."""
        return cls(
            task.id,
            task.queue,
            task.type,
            task.state,
            task.attempts,
            task.epoch,
            task.last_error,
            task.updated_at,
            task if whole else None,
        )


class Enqueued:
    """The answer to one enqueued spec: the task, and whether it already existed.

    A new task (`Enqueued.new`) is built from its spec only when `task` is first read: a
    batch answered over HTTP needs only each id and state, and building a 20-field `Task`
    per spec was the largest single cost of a batch enqueue. Immutable, like the task.
    """

    __slots__ = ("_deduplicated", "_id", "_made", "_now", "_spec")

    def __init__(self, task: Task, deduplicated: bool) -> None:
        self._made: Task | None = task
        self._spec: TaskSpec | None = None
        self._now: datetime | None = None
        self._id: UUID = task.id
        self._deduplicated = deduplicated

    @classmethod
    def new(cls, spec: TaskSpec, *, task_id: UUID, now: datetime) -> Enqueued:
        """`spec` (validated) was stored as a new pending task `task_id` at `now`."""
        answer = cls.__new__(cls)
        answer._made, answer._spec, answer._now = None, spec, now
        answer._id, answer._deduplicated = task_id, False
        return answer

    @property
    def task(self) -> Task:
        made = self._made
        if made is None:
            assert self._spec is not None and self._now is not None
            # transitions imports this module: the enqueue transition is looked up here
            from leaseq.domain.transitions import new_task

            made = self._made = new_task(self._spec, task_id=self._id, now=self._now)
        return made

    @property
    def task_id(self) -> UUID:
        return self._id

    @property
    def deduplicated(self) -> bool:
        return self._deduplicated

    @property
    def state(self) -> TaskState:
        return TaskState.PENDING if self._made is None else self._made.state

    @property
    def queue(self) -> str:
        return self._spec.queue if self._spec is not None else self.task.queue

    @property
    def type(self) -> str:
        return self._spec.type if self._spec is not None else self.task.type

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Enqueued):
            return NotImplemented
        return (self.task, self.deduplicated) == (other.task, other.deduplicated)

    __hash__ = None  # type: ignore[assignment]  # equal by value, and a Task holds a dict

    def __repr__(self) -> str:
        return f"Enqueued(task={self.task!r}, deduplicated={self.deduplicated!r})"


class NewTasks(Sequence[Enqueued]):
    """Tasks enqueued together, one per payload, each `spec` with that payload: the answer
    of `TaskStore.enqueue_each`, kept column-wise (ids in payload order, one `created_at`).

    As a sequence it is the `Enqueued` of each (none deduplicated), built on reading: a
    caller that needs only ids (an HTTP answer) or counts (metrics) builds no object per
    task. Immutable. `created_at` is None only when no payload was given.
    """

    __slots__ = ("_created_at", "_ids", "_keys", "_payloads", "_spec")

    def __init__(
        self,
        spec: TaskSpec,
        payloads: Sequence[JSON],
        ids: Sequence[UUID],
        created_at: datetime | None,
        keys: Sequence[str] | None = None,
    ) -> None:
        if len(ids) != len(payloads) or (keys is not None and len(keys) != len(payloads)):
            raise ValueError("one id (and one key, if any) per payload")
        self._spec, self._payloads, self._ids = spec, tuple(payloads), tuple(ids)
        self._created_at = created_at
        self._keys = None if keys is None else tuple(keys)

    @property
    def keys(self) -> tuple[str, ...] | None:
        """Each task's idempotency key (`TaskStore.enqueue_keyed`), or None: no keys."""
        return self._keys

    @property
    def spec(self) -> TaskSpec:
        return self._spec

    @property
    def payloads(self) -> tuple[JSON, ...]:
        return self._payloads

    @property
    def ids(self) -> tuple[UUID, ...]:
        return self._ids

    @property
    def created_at(self) -> datetime | None:
        return self._created_at

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, index: int) -> Enqueued: ...

    @overload
    def __getitem__(self, index: slice) -> list[Enqueued]: ...

    def __getitem__(self, index: int | slice) -> Enqueued | list[Enqueued]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        payload, task_id = self.payloads[index], self.ids[index]
        assert self.created_at is not None  # an index was found: some task was enqueued
        if self._keys is None:
            one = evolve(self.spec, payload=payload)
        else:
            one = evolve(self.spec, payload=payload, idempotency_key=self._keys[index])
        return Enqueued.new(one, task_id=task_id, now=self.created_at)

    def __repr__(self) -> str:
        return f"NewTasks({len(self)} of {self.spec!r}, created_at={self.created_at!r})"
