"""`enqueue_tx`: enqueue a task inside the caller's own database transaction (ADR 0027).

The task is a row written by the application's transaction through the `leaseq_enqueue`
SQL functions: it exists if and only if that transaction commits, and the wake-up of
waiting workers (NOTIFY) is delivered at commit. The connection may be an asyncpg
Connection (or pooled connection), a SQLAlchemy AsyncConnection or AsyncSession, or a
psycopg AsyncConnection; no driver is imported here (each is found in `sys.modules`, where
the caller's own import put it), so none is a dependency of the SDK.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from leaseq.domain import PayloadTooLarge, TaskSpec, ValidationError
from leaseq.domain import validation as v
from leaseq.domain.task import DEFAULT_MAX_ATTEMPTS
from leaseq.sdk import errors
from leaseq.sdk.types import JSON, EnqueueResult

# One statement in the three parameter styles; casts everywhere, so that no driver needs
# a codec of its own (the payload and labels travel as JSON text). A `delay` is added to
# the database's clock, which decides every instant (ADR 0003).
_ORDER = ("queue", "type", "payload", "version", "priority", "run_at", "delay_us", "key",
          "max_attempts", "labels", "concurrency_key")  # fmt: skip
_SQL = (
    "SELECT CAST(r.id AS text), r.state, r.deduplicated FROM leaseq_enqueue_result("
    "CAST({queue} AS text), CAST({type} AS text), CAST(CAST({payload} AS text) AS jsonb), "
    "CAST({version} AS int), CAST({priority} AS int), COALESCE(CAST({run_at} AS timestamptz), "
    "now() + CAST({delay_us} AS bigint) * interval '1 microsecond'), CAST({key} AS text), "
    "CAST({max_attempts} AS int), CAST(CAST({labels} AS text) AS jsonb), "
    "CAST({concurrency_key} AS text)) AS r"
)
ASYNCPG_SQL = _SQL.format(**{name: f"${n}" for n, name in enumerate(_ORDER, 1)})
PSYCOPG_SQL = _SQL.format(**{name: f"%({name})s" for name in _ORDER})
SQLALCHEMY_SQL = _SQL.format(**{name: f":{name}" for name in _ORDER})

Row = Sequence[Any]


async def enqueue_tx(
    conn: Any,
    queue: str,
    type: str,
    payload: JSON,
    *,
    version: int = 1,
    priority: int = 0,
    run_at: datetime | None = None,
    delay: float | timedelta | None = None,
    idempotency_key: str | None = None,
    max_attempts: int | None = None,
    labels: Mapping[str, str] | None = None,
    concurrency_key: str | None = None,
) -> EnqueueResult:
    """Enqueue one task in `conn`'s current transaction: rolled back, it never existed;
    committed, it is pending (ready at `run_at`, or `delay` after the transaction's
    start) and workers waiting on `queue` wake at once. A repeat of an idempotency key
    that names a task answers that task, `deduplicated=True`.

    Refuses bad input as `POST /v1/tasks` does, before touching the transaction
    (ValidationFailed, PayloadTooLarge, naming the field). Raises TypeError for a
    connection of no supported driver; the driver's own errors otherwise.
    """
    params = _params(
        queue, type, payload, version, priority, run_at, delay, idempotency_key,
        max_attempts, labels, concurrency_key,
    )  # fmt: skip
    row = await _runner(conn)(conn, params)
    return EnqueueResult(UUID(row[0]), row[1], bool(row[2]))


def _params(
    queue: str,
    type: str,
    payload: JSON,
    version: int,
    priority: int,
    run_at: datetime | None,
    delay: float | timedelta | None,
    idempotency_key: str | None,
    max_attempts: int | None,
    labels: Mapping[str, str] | None,
    concurrency_key: str | None = None,
) -> dict[str, Any]:
    try:
        if run_at is not None and delay is not None:
            raise ValidationError("delay", "give run_at or delay, not both")
        delay_us = None
        if delay is not None:
            span = delay if isinstance(delay, timedelta) else _seconds(delay)
            v.check_delay("delay", span)
            delay_us = (span.days * 86_400 + span.seconds) * 1_000_000 + span.microseconds
        spec = TaskSpec(
            queue=queue,
            type=type,
            payload=payload,
            type_version=version,
            labels=dict(labels or {}),
            priority=priority,
            run_at=run_at,
            max_attempts=DEFAULT_MAX_ATTEMPTS if max_attempts is None else max_attempts,
            idempotency_key=idempotency_key,
            concurrency_key=concurrency_key,
        )
        encoded = v.check_spec(spec)
    except ValidationError as error:
        raise _refused(error.field, error.message, error) from error
    return {
        "queue": queue,
        "type": type,
        "payload": encoded,
        "version": version,
        "priority": priority,
        "run_at": run_at,
        "delay_us": delay_us,
        "key": idempotency_key,
        "max_attempts": max_attempts,
        "labels": None if not labels else json.dumps(dict(labels), ensure_ascii=False),
        "concurrency_key": concurrency_key,
    }


def _seconds(delay: float) -> timedelta:
    if isinstance(delay, bool) or not isinstance(delay, int | float) or delay != delay:
        raise ValidationError("delay", "must be a number of seconds or a timedelta")
    try:
        return timedelta(seconds=delay)
    except OverflowError:
        raise ValidationError("delay", "must lie between 0 and 365 days") from None


def _refused(field: str, message: str, error: Exception | None = None) -> errors.ValidationFailed:
    kind = errors.PayloadTooLarge if isinstance(error, PayloadTooLarge) else errors.ValidationFailed
    extensions = {"errors": [{"field": field, "message": message}]}
    return kind(f"{field}: {message}", extensions=extensions)


Runner = Callable[[Any, dict[str, Any]], Awaitable[Row]]


def _runner(conn: Any) -> Runner:
    """The runner for `conn`'s driver, found among the modules the caller imported."""
    asyncpg = sys.modules.get("asyncpg")
    if asyncpg is not None and isinstance(
        conn, asyncpg.Connection | asyncpg.pool.PoolConnectionProxy
    ):
        return _on_asyncpg
    sqlalchemy_asyncio = sys.modules.get("sqlalchemy.ext.asyncio")
    if sqlalchemy_asyncio is not None and isinstance(
        conn, sqlalchemy_asyncio.AsyncConnection | sqlalchemy_asyncio.AsyncSession
    ):
        return _on_sqlalchemy
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None and isinstance(conn, psycopg.AsyncConnection):
        return _on_psycopg
    raise TypeError(
        f"enqueue_tx needs an asyncpg Connection, a SQLAlchemy AsyncConnection or "
        f"AsyncSession, or a psycopg AsyncConnection, not {type(conn).__qualname__}"
    )


async def _on_asyncpg(conn: Any, params: dict[str, Any]) -> Row:
    try:
        row: Row = await conn.fetchrow(ASYNCPG_SQL, *(params[name] for name in _ORDER))
    except Exception as error:
        refusal = _refusal(error)
        if refusal is None:
            raise
        raise refusal from error
    return row


async def _on_psycopg(conn: Any, params: dict[str, Any]) -> Row:
    try:
        cursor = await conn.execute(PSYCOPG_SQL, params)
        row: Row = await cursor.fetchone()
    except Exception as error:
        refusal = _refusal(error)
        if refusal is None:
            raise
        raise refusal from error
    return row


async def _on_sqlalchemy(conn: Any, params: dict[str, Any]) -> Row:
    from sqlalchemy import text  # the caller's SQLAlchemy: imported already

    try:
        result = await conn.execute(text(SQLALCHEMY_SQL), params)
        row: Row = result.one()
    except Exception as error:
        refusal = _refusal(error)
        if refusal is None:
            raise
        raise refusal from error
    return row


def _refusal(error: Exception) -> errors.ValidationFailed | None:
    """A refusal of the SQL function (SQLSTATE 22023 or 54000, naming its field) as the
    SDK's typed error; None for any other error."""
    seen: list[BaseException] = []
    found: BaseException | None = error
    while found is not None and found not in seen:  # SQLAlchemy wraps the driver's error
        seen.append(found)
        found = getattr(found, "orig", None) or found.__cause__
    for candidate in seen:
        state = getattr(candidate, "sqlstate", None)
        diag = getattr(candidate, "diag", None)  # psycopg
        field = getattr(diag or candidate, "column_name", None)
        if state in ("22023", "54000") and field and "leaseq_enqueue:" in str(candidate):
            message = str(candidate).split(f"{field}: ", 1)[-1].splitlines()[0]
            return _refused(
                field, message, PayloadTooLarge(field, 0, 0) if state == "54000" else None
            )
    return None


__all__ = ["enqueue_tx"]
