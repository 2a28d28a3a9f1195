"""The PostgreSQL store's flow control (ADR 0030): limits, live leases, the limited lease.

A mixin of PostgresTaskStore. The grants of a limited queue are decided by the domain's
own rule (`claims`/`limits.plan_flow`) on what one statement reads under the queue's row
lock, and applied by the next statement of the same transaction: the rule is not restated
in SQL, and a limit cannot be overrun by two replicas granting at once.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import TextClause

from leaseq.adapters.postgres import flow_queries as fq
from leaseq.adapters.postgres import queries as q
from leaseq.adapters.postgres.errors import translated
from leaseq.adapters.postgres.statements import StatementRunner, Transaction
from leaseq.domain import FlowState, LiveLeases, QueueLimits, QueueSettings
from leaseq.domain import validation as v
from leaseq.domain.limits import (
    UNKEYED,
    Candidate,
    RateBucket,
    bucket_size,
    check_queue_limits,
    count_live,
    plan_flow,
)

Row = Mapping[str, Any]


# The queues this store last found limited go to the limited path directly, saving the
# plain LEASE and the probe; the path checks `limited` under the lock, so a stale hint
# costs one transaction, never a wrong grant. Bounded: cleared when it grows past this.
SEEN_LIMITED_MAX = 10_000


class PostgresFlowControl:
    _runner: StatementRunner
    _seen_limited: set[str]

    async def _rows(self, statement: TextClause, params: dict[str, Any]) -> builtins.list[Row]:
        raise NotImplementedError  # PostgresTaskStore's

    async def set_limits(
        self, queue: str, limits: QueueLimits, *, now: datetime | None = None
    ) -> QueueSettings:
        v.check_name("queue", queue)
        limits = check_queue_limits(limits)
        rate = limits.rate_per_second
        params = {
            "queue": queue,
            "now": None if now is None else v.check_aware("now", now),
            "concurrency": limits.concurrency,
            "concurrency_per_key": limits.concurrency_per_key,
            "rate_per_second": rate,
            # a full bucket, stamped with the statement's own now
            "bucket_tokens": None if rate is None else bucket_size(rate),
        }
        [row] = await self._rows(fq.SET_LIMITS, params)
        return settings_of(row)

    async def live_leases(self, queue: str, *, now: datetime | None = None) -> LiveLeases:
        v.check_name("queue", queue)
        at = None if now is None else v.check_aware("now", now)
        rows = await self._rows(fq.LIVE_LEASES, {"queue": queue, "now": at})
        return count_live(row["key"] for row in rows for _ in range(row["n"]))

    async def _queue_is_limited(self, queue: str) -> bool:
        rows = await self._rows(fq.QUEUE_LIMITED, {"queue": queue})
        return bool(rows and rows[0]["limited"])

    async def _lease_limited(self, params: dict[str, Any]) -> builtins.list[Row]:
        """The grants of a limited queue: lock its row, read, plan, grant; one transaction."""
        with translated():
            async with self._runner.transaction() as tx:
                await tx.rows(fq.INDEXES_ONLY, {})
                found = await tx.rows(fq.FLOW_LOCK, params)
                if not found or not found[0]["limited"]:  # lifted meanwhile: the plain claim
                    self._seen_limited.discard(params["queue"])
                    return builtins.list(await tx.rows(q.LEASE, params))
                if len(self._seen_limited) >= SEEN_LIMITED_MAX:
                    self._seen_limited.clear()
                self._seen_limited.add(params["queue"])
                if found[0]["paused"]:
                    return []
                return await _grant(tx, found[0], params)


async def _grant(tx: Transaction, settings: Row, params: dict[str, Any]) -> builtins.list[Row]:
    candidates: builtins.list[Candidate] = []
    per_key: dict[str | None, int] = {}
    turns: dict[str, int] = {}
    for row in await tx.rows(fq.FLOW_CANDIDATES, params):
        kind, key = row["kind"], row["key"]
        if kind == "candidate":
            found = UNKEYED if key is None else key
            candidates.append(Candidate(row["id"], row["priority"], row["ready_at"], found))
        elif kind == "live":
            per_key[key] = row["n"]
        else:
            turns[key] = row["n"]
    live = count_live(key for key, n in per_key.items() for _ in range(n))
    state = flow_state(settings, turns)
    now = params["now"] if params["now"] is not None else settings["judged_at"]
    plan = plan_flow(candidates, live, state, limit=params["limit"], now=now)
    after = plan.state
    changed = {k: n for k, n in after.last_grant.items() if turns.get(k) != n}
    grant = params | {
        "ids": builtins.list(plan.granted),
        "bucket_tokens": None if after.bucket is None else after.bucket.tokens,
        "bucket_at": None if after.bucket is None else after.bucket.at,
        "rounds": after.rounds,
        "turn_keys": builtins.list(changed),
        "turn_grants": builtins.list(changed.values()),
    }
    return builtins.list(await tx.rows(fq.FLOW_GRANT, grant))


def flow_state(row: Row, turns: Mapping[str, int]) -> FlowState:
    bucket = None
    if row["bucket_tokens"] is not None and row["rate_per_second"] is not None:
        bucket = RateBucket(row["bucket_tokens"], row["bucket_at"])
    return FlowState(limits_of(row), bucket, row["rounds"], turns)


def limits_of(row: Row) -> QueueLimits:
    return QueueLimits(row["concurrency"], row["concurrency_per_key"], row["rate_per_second"])


def settings_of(row: Row) -> QueueSettings:
    return QueueSettings(
        row["queue"], row["paused"], row["paused_at"], row["updated_at"], limits_of(row)
    )
