"""Flow control of a queue: its limits, and which ready tasks a limited queue may grant.

The rule is written once, here (ADR 0030). The memory store applies `plan_flow` to its
tasks; the PostgreSQL store applies it too, to the candidates and live-lease counts one
statement reads while the queue's settings row is locked, so both decide alike and the
state machine of the contract tests holds them to the same model.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from uuid import UUID

from attrs import evolve, field, frozen

from leaseq.domain.errors import ValidationError

MAX_CONCURRENCY = 1_000_000
MAX_RATE_PER_SECOND = 1_000_000.0
# Tasks without a concurrency key share one round-robin turn, under this name (a real
# key has at least one character); the per-key cap does not apply to them.
UNKEYED = ""
_MICROSECOND = timedelta(microseconds=1)


@frozen
class QueueLimits:
    """What an operator allows a queue, enforced at every grant on every replica:

    - `concurrency`: at most this many live leases on the queue;
    - `concurrency_per_key`: at most this many live leases of one concurrency key;
    - `rate_per_second`: leases started per second, as a token bucket that holds one
      second's worth (at least one token) and refills continuously.

    None: no such limit. A queue with any limit set also shares its grants round-robin
    across concurrency keys among ready tasks of equal priority.
    """

    concurrency: int | None = None
    concurrency_per_key: int | None = None
    rate_per_second: float | None = None

    @property
    def limited(self) -> bool:
        return (
            self.concurrency is not None
            or self.concurrency_per_key is not None
            or self.rate_per_second is not None
        )


NO_LIMITS = QueueLimits()


def check_queue_limits(limits: QueueLimits) -> QueueLimits:
    """Refuse limits out of bounds (ValidationError naming the field): the caps are
    integers from 1 to MAX_CONCURRENCY, the rate a finite number above 0 and at most
    MAX_RATE_PER_SECOND. Answers the limits with the rate as a float (as stored)."""
    for name in ("concurrency", "concurrency_per_key"):
        value = getattr(limits, name)
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not 1 <= value <= MAX_CONCURRENCY
        ):
            raise ValidationError(name, f"must be null or an integer from 1 to {MAX_CONCURRENCY}")
    rate = limits.rate_per_second
    if rate is not None and (
        isinstance(rate, bool)
        or not isinstance(rate, int | float)
        or not math.isfinite(rate)
        or not 0 < rate <= MAX_RATE_PER_SECOND
    ):
        raise ValidationError(
            "rate_per_second",
            f"must be null or a number above 0 and at most {MAX_RATE_PER_SECOND:g}",
        )
    return limits if rate is None else evolve(limits, rate_per_second=float(rate))


def bucket_size(rate: float) -> float:
    """The burst a rate allows: one second's worth, and at least one grant."""
    return max(1.0, float(rate))


def _counts(value: Mapping[str, int]) -> dict[str, int]:
    return dict(value)


@frozen
class RateBucket:
    """The rate limit's token bucket: `tokens` as of the instant `at`."""

    tokens: float
    at: datetime


def full_bucket(rate: float, now: datetime) -> RateBucket:
    return RateBucket(bucket_size(rate), now)


def refilled(bucket: RateBucket, rate: float, now: datetime) -> RateBucket:
    """The bucket at `now`: refilled at `rate` per second since `at`, up to its size.

    Elapsed time is whole microseconds divided as doubles, the same IEEE operations the
    PostgreSQL store's refill does, so both stores hold bit-equal buckets. A clock that
    went back refills nothing (and the bucket keeps its later instant).
    """
    micros = max(0, (now - bucket.at) // _MICROSECOND)
    tokens = min(bucket_size(rate), bucket.tokens + float(rate) * (micros / 1_000_000))
    return RateBucket(tokens, max(bucket.at, now))


@frozen
class FlowState:
    """What a limited queue's claims carry from one to the next: its limits, its rate
    bucket (None without a rate), the number of grants made so far (`rounds`), and the
    grant number of each key's most recent grant (round-robin across keys)."""

    limits: QueueLimits
    bucket: RateBucket | None = None
    rounds: int = 0
    last_grant: Mapping[str, int] = field(factory=dict, converter=_counts)


@frozen
class Candidate:
    """A claimable task as the flow rule sees it (`key` is UNKEYED for none)."""

    id: UUID
    priority: int
    ready_at: datetime
    key: str


@frozen
class LiveLeases:
    """The live leases of a queue: in all, and per concurrency key (keyed ones only)."""

    total: int = 0
    per_key: Mapping[str, int] = field(factory=dict, converter=_counts)


def count_live(keys: Iterable[str | None]) -> LiveLeases:
    """Count live leases from the concurrency keys of the live leases' tasks."""
    per_key: dict[str, int] = {}
    total = 0
    for key in keys:
        total += 1
        if key is not None:
            per_key[key] = per_key.get(key, 0) + 1
    return LiveLeases(total, per_key)


@frozen
class FlowPlan:
    """Which candidates a claim grants (in grant order) and the queue's state after it."""

    granted: tuple[UUID, ...]
    state: FlowState


def fair_order(candidates: Iterable[Candidate], last_grant: Mapping[str, int]) -> list[Candidate]:
    """Higher priority first; among equal priority, round-robin across keys: each key's
    oldest ready task (its turn 0), then each key's next one, and so on; within one turn,
    the key served longest ago (never: first) goes first; then ready_at, then id."""
    by_claim = sorted(candidates, key=lambda c: (-c.priority, c.ready_at, c.id))
    turns: dict[tuple[int, str], int] = {}
    ranked = []
    for c in by_claim:
        turn = turns.get((c.priority, c.key), 0)
        turns[(c.priority, c.key)] = turn + 1
        ranked.append(((-c.priority, turn, last_grant.get(c.key, -1), c.ready_at, c.id), c))
    return [c for _, c in sorted(ranked, key=lambda pair: pair[0])]


def plan_flow(
    candidates: Iterable[Candidate],
    live: LiveLeases,
    state: FlowState,
    *,
    limit: int,
    now: datetime,
) -> FlowPlan:
    """The flow rule: of the claimable `candidates` of a limited queue (those a request
    may claim), grant in `fair_order` at most `limit`, while the queue stays within
    `concurrency` live leases (counting `live`, the leases live now), each key within
    `concurrency_per_key`, and the rate bucket holds a whole token per grant.

    It suffices to pass, per (priority, key), the first `limit` candidates in claim order:
    no later one could be granted. The state after: the bucket refilled to `now` less one
    token per grant; each grant numbered (`rounds`) and recorded as its key's latest.
    """
    limits = state.limits
    budget = limit
    if limits.concurrency is not None:
        budget = min(budget, max(0, limits.concurrency - live.total))
    bucket = state.bucket
    if limits.rate_per_second is not None:
        bucket = refilled(
            bucket or full_bucket(limits.rate_per_second, now), limits.rate_per_second, now
        )
        budget = min(budget, math.floor(bucket.tokens))
    per_key = dict(live.per_key)
    cap = limits.concurrency_per_key
    granted: list[UUID] = []
    last_grant = dict(state.last_grant)
    rounds = state.rounds
    for c in fair_order(candidates, state.last_grant) if budget > 0 else ():
        if len(granted) == budget:
            break
        if cap is not None and c.key != UNKEYED and per_key.get(c.key, 0) >= cap:
            continue
        granted.append(c.id)
        per_key[c.key] = per_key.get(c.key, 0) + 1
        last_grant[c.key] = rounds
        rounds += 1
    if bucket is not None:
        bucket = RateBucket(bucket.tokens - len(granted), bucket.at)
    after = evolve(state, bucket=bucket, rounds=rounds, last_grant=last_grant)
    return FlowPlan(tuple(granted), after)
