"""The request bodies of API v1 as msgspec Structs: one definition per body both decodes it
(strictly: no bool for an int, no string for a number) with every bound, and documents it
in the OpenAPI document (ADR 0017).

The bounds are the domain's default limits (`leaseq.domain.Limits`); a service configured
tighter refuses the rest with the domain's own 422, naming the same field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from msgspec import Meta, Raw, Struct

from leaseq.domain import DEFAULT_LIMITS
from leaseq.domain import validation as v
from leaseq.domain.limits import MAX_CONCURRENCY, MAX_RATE_PER_SECOND
from leaseq.domain.retry import MAX_BACKOFF_SECONDS

L = DEFAULT_LIMITS
DAY = 24 * 3600.0

Name = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=128,
        pattern=v.NAME_PATTERN_ANCHORED,
        description="1-128 letters, digits and _ . : - starting with a letter or digit",
    ),
]
# Tokens are what the service handed out: printable ASCII, no spaces (no NUL, no surrogate).
Token = Annotated[str, Meta(min_length=1, max_length=256, pattern=r"^[!-~]+$")]
ErrorText = Annotated[
    str,
    Meta(
        max_length=1024 * 1024,
        description=f"kept as the task's last_error, shortened to {L.max_error_chars} characters",
    ),
]
JsonValue = Annotated[
    Any,
    Meta(
        description=(
            f"any JSON value: nested at most {L.max_json_depth} levels, at most 1 MiB encoded, "
            "integers within 64 bits (signed), other numbers only as precise as a double "
            "(see docs/api.md, Numbers), no NUL character in any string"
        )
    ),
]
Seconds = Annotated[float, Meta(ge=0.0, le=L.max_delay.total_seconds())]
LeaseSeconds = Annotated[
    float, Meta(ge=L.min_lease.total_seconds(), le=L.max_lease.total_seconds())
]
RunAt = Annotated[
    datetime,
    Meta(
        tz=True,
        description=(
            f"RFC 3339 with a time zone, from {v.RUN_AT_MIN.isoformat()} up to (not including) "
            f"{v.RUN_AT_END.isoformat()}"
        ),
        extra_json_schema={
            "x-minimum": v.RUN_AT_MIN.isoformat(),
            "x-exclusiveMaximum": v.RUN_AT_END.isoformat(),
        },
    ),
]
TypeVersion = Annotated[int, Meta(ge=L.min_type_version, le=L.max_type_version)]


class _Body(Struct, kw_only=True):
    """Unknown fields are ignored (a newer client may send more); every known one is strict."""


class RetryIn(Struct, kw_only=True, frozen=True):  # frozen: hashable, compared in batches
    base_seconds: Annotated[float, Meta(ge=0.0, le=MAX_BACKOFF_SECONDS)] = 1.0
    factor: Annotated[float, Meta(ge=1.0, le=100.0)] = 2.0
    max_seconds: Annotated[float, Meta(ge=0.0, le=MAX_BACKOFF_SECONDS)] = 3600.0
    jitter: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.2


_LabelMap = dict[
    Annotated[str, Meta(min_length=1, max_length=L.max_label_key_chars)],
    Annotated[str, Meta(max_length=L.max_label_value_chars)],
]
Labels = Annotated[_LabelMap, Meta(max_length=L.max_labels)]
Priority = Annotated[int, Meta(ge=L.min_priority, le=L.max_priority)]
ConcurrencyKey = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=L.max_concurrency_key_chars,
        description="groups tasks for a queue's per-key limit and round-robin (ADR 0030)",
    ),
]


class TaskIn(_Body):
    queue: Name
    type: Name
    type_version: TypeVersion = 1
    payload: JsonValue = None
    labels: Labels = {}
    priority: Priority = 0
    run_at: RunAt | None = None
    delay_seconds: Seconds | None = None
    max_attempts: Annotated[int, Meta(ge=1, le=L.max_attempts)] = 20
    retry: RetryIn | None = None
    idempotency_key: (
        Annotated[str, Meta(min_length=1, max_length=L.max_idempotency_key_chars)] | None
    ) = None
    concurrency_key: ConcurrencyKey | None = None


class EnqueueIn(_Body):
    tasks: Annotated[list[TaskIn], Meta(min_length=1, max_length=L.max_batch)]


class TypeIn(_Body):
    type: Name
    version: TypeVersion = 1


class ResultIn(_Body):
    task_id: Annotated[str, Meta(max_length=64)]
    token: Token
    outcome: Literal["complete", "retry", "fail"]
    result: JsonValue = None
    error: ErrorText | None = None
    delay_seconds: Seconds | None = None

    def __post_init__(self) -> None:
        if self.outcome != "complete" and self.error is None:
            raise ValueError(f"outcome {self.outcome!r} needs an 'error'")


class LeaseIn(_Body):
    queue: Name
    worker_id: Annotated[str, Meta(min_length=1, max_length=L.max_owner_chars)]
    types: Annotated[list[TypeIn], Meta(max_length=100)] | None = None
    max_tasks: Annotated[int, Meta(ge=1, le=L.max_batch)] = 1
    lease_seconds: LeaseSeconds = 30.0
    wait_seconds: Annotated[
        float,
        Meta(ge=0.0, le=60.0, description="at most the service's LEASEQ_MAX_WAIT_SECONDS"),
    ] = 0.0
    # The worker's name for this request, and whether this is a re-send of it (its answer
    # was lost): a repeat is answered with the live grants the request already got (ADR 0021).
    request_id: Annotated[str, Meta(min_length=1, max_length=L.max_request_id_chars)] | None = None
    repeat: bool = False
    # The worker's finished tasks, reported before the claim in the same transaction, as
    # /v1/results would report them (ADR 0033). A request that carries results does not
    # wait: their answers are never held back by a long poll.
    results: Annotated[list[ResultIn], Meta(max_length=L.max_batch)] | None = None


class LeaseBatch(LeaseIn):
    """`LeaseIn` with its results left undecoded: one bad item is that item's refusal."""

    results: Annotated[list[Raw], Meta(max_length=L.max_batch)] | None = None  # type: ignore[assignment]


class HeartbeatIn(_Body):
    token: Token
    lease_seconds: LeaseSeconds = 30.0


class CompleteIn(_Body):
    token: Token
    result: JsonValue = None


class RetryTaskIn(_Body):
    token: Token
    error: ErrorText
    delay_seconds: Seconds | None = None


class FailIn(_Body):
    token: Token
    error: ErrorText


class ReleaseIn(_Body):
    token: Token


class ResultsIn(_Body):
    """What the OpenAPI document shows; `ResultsBatch` decodes it, each item on its own."""

    results: Annotated[list[ResultIn], Meta(max_length=L.max_batch)]
    # false: each accepted answer carries the task's new state (and when it changed), not
    # the whole task (a worker needs no more, and the task objects are most of the cost)
    include_tasks: bool = True


class ResultsBatch(_Body):
    """`ResultsIn` with its items left undecoded: one bad item is that item's refusal."""

    results: Annotated[list[Raw], Meta(max_length=L.max_batch)]
    include_tasks: bool = True


class ScheduleTaskIn(Struct, kw_only=True, forbid_unknown_fields=True):
    """The template of each task a schedule enqueues. Unknown fields are refused: a task's
    run_at, delay_seconds or idempotency_key here would be silently ignored (the fire time
    sets the first and the last)."""

    queue: Name
    type: Name
    type_version: TypeVersion = 1
    payload: JsonValue = None
    # one label fewer than a task may carry: the schedule adds `leaseq.schedule`
    labels: Annotated[_LabelMap, Meta(max_length=L.max_labels - 1)] = {}
    priority: Priority = 0
    max_attempts: Annotated[int, Meta(ge=1, le=L.max_attempts)] = 20
    retry: RetryIn | None = None
    concurrency_key: ConcurrencyKey | None = None


class ScheduleIn(Struct, kw_only=True, forbid_unknown_fields=True):
    """A schedule as an operator writes it; a misspelt field is refused, not ignored."""

    cron: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=200,
            description="5 fields (minute hour day-of-month month day-of-week), or 6 with a "
            "leading seconds field",
            examples=["*/5 * * * *"],
        ),
    ]
    task: ScheduleTaskIn
    timezone: Annotated[str, Meta(min_length=1, max_length=64, examples=["Europe/Berlin"])] = "UTC"


_Cap = Annotated[int, Meta(ge=1, le=MAX_CONCURRENCY)]


class LimitsIn(Struct, kw_only=True, forbid_unknown_fields=True):
    """A queue's flow-control limits, all three at once: null (or absent) lifts one. A
    misspelt field is refused, not ignored (it would lift a limit)."""

    concurrency: (
        Annotated[_Cap, Meta(description="at most this many live leases on the queue")] | None
    ) = None
    concurrency_per_key: (
        Annotated[_Cap, Meta(description="at most this many live leases per concurrency key")]
        | None
    ) = None
    rate_per_second: (
        Annotated[
            float,
            Meta(
                gt=0.0,
                le=MAX_RATE_PER_SECOND,
                description="leases started per second; bursts of one second's worth",
            ),
        ]
        | None
    ) = None
