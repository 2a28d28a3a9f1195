"""Runs the store's named statements on a raw asyncpg pool, as prepared statements.

queries.py keeps the SQL text with `:name` parameters; each statement is rewritten once
into asyncpg's `$n` form and then prepared per connection (asyncpg's statement cache),
so a call costs one Bind/Execute round trip and no SQLAlchemy result layer. Rows come
back as asyncpg Records, which read like mappings (`row["column"]`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import asyncpg
import msgspec
from sqlalchemy import TextClause

from leaseq.adapters.postgres.engine import libpq_url

_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")

Row = Mapping[str, Any]
ACQUIRE_TIMEOUT = 10.0  # seconds a call waits for a free connection before it fails
# Every statement runs on its generic plan, planned once per connection (ADR 0034). In
# the default mode PostgreSQL re-plans the lease statement on every call (its generic
# plan's estimate never wins), which doubled the statement's server time (0.9 against
# 0.45 ms for 10 grants); its generic plan keeps the ready index at 2 million tasks.
SESSION = {"timezone": "UTC", "application_name": "leaseq", "plan_cache_mode": "force_generic_plan"}
# ... made again at most this many seconds after it was made (asyncpg prepares the
# statement anew). A plan made while the table was empty (a new or emptied table) scans
# the whole table on every call once a burst has filled it (a lease of 10 took 170 ms at
# 10,000 tasks), and PostgreSQL makes it again only after autovacuum's next ANALYZE, a
# minute or more later. Preparing again costs a lease about 2 ms, once per connection
# in 10 s. (A table whose statistics say empty although it kept its pages is believed
# empty by every new plan too: the store analyzes it, planner_statistics.py.)
PLAN_LIFETIME = 10.0


class Positional:
    """One statement in `$n` form, with the order its named parameters bind in."""

    __slots__ = ("names", "sql")

    def __init__(self, statement: TextClause) -> None:
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"

        self.sql = _PARAM.sub(number, statement.text)
        self.names = tuple(names)

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        return [params[name] for name in self.names]


def _passthrough(value: str) -> str:
    """Parameters bound to json columns are already JSON text (validated and encoded)."""
    return value


_decode = msgspec.json.Decoder().decode


def decode_json(text: str) -> Any:
    """A json/jsonb column's value, exactly as the standard library reads it.

    msgspec first: about five times faster than `json.loads`, and like it (unlike orjson,
    which turns integers past 64 bits into floats) exact for every number. The few texts
    PostgreSQL stores that msgspec refuses (a number beyond a double, `"\\ud800"`: a lone
    surrogate escape, both only from outside the service's validation) are read by
    `json.loads`, so nothing the database holds becomes unreadable."""
    try:
        return _decode(text)
    except msgspec.DecodeError:
        return json.loads(text)


async def _setup(conn: asyncpg.Connection, warm: Sequence[str] = ()) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(
            kind, encoder=_passthrough, decoder=decode_json, schema="pg_catalog", format="text"
        )
    if not warm:
        return
    # A statement's first use on a connection costs 10-60 ms (asyncpg introspects its
    # parameter and column types in several round trips; the new backend loads its
    # catalog caches): paid here, when the pool opens the connection, not by the first
    # lease or enqueue that happens to get it (that was the latency benchmark's max).
    # Both caches outlive the prepared statement, which is dropped at once.
    for sql in warm:
        await conn.prepare(sql)
    # Two things asyncpg leaves pending, settled now rather than by the connection's
    # first real call: the dropped statements are closed on the server when the next new
    # statement is prepared; and prepare ends with Flush, not Sync, so the implicit
    # transaction it began stays open: the next statement would run in it, with now()
    # from this moment (a lease would not see tasks made ready since).
    await conn.fetchval("SELECT 1")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Releasing a connection resets nothing beyond what asyncpg always does (roll back a
    transaction left open, drop listeners). Its default reset query (advisory unlock, CLOSE
    ALL, UNLISTEN *, RESET ALL) is one more round trip inside every statement's call,
    before the caller gets its rows; these connections never take session state: each
    call is one autocommit statement, and LISTEN has a connection of its own."""


class StatementRunner:
    """A pool of asyncpg connections (autocommit: each statement is its own transaction)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._compiled: dict[str, Positional] = {}

    def _positional(self, statement: TextClause) -> Positional:
        found = self._compiled.get(statement.text)
        if found is None:
            found = self._compiled[statement.text] = Positional(statement)
        return found

    async def rows(self, statement: TextClause, params: Mapping[str, Any]) -> Sequence[Row]:
        positional = self._positional(statement)
        async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT) as conn:
            rows: Sequence[Row] = await conn.fetch(positional.sql, *positional.args(params))
            return rows

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One connection in one transaction, for the few calls whose statements must see
        each other's effects under a lock (a limited queue's grants, ADR 0030); committed
        when the block ends, rolled back when it raises."""
        async with (
            self._pool.acquire(timeout=ACQUIRE_TIMEOUT) as conn,
            conn.transaction(),
        ):
            yield Transaction(self, conn)

    def pool_status(self) -> tuple[int, int]:
        """(connections checked out, connections open); the pool opens them on demand."""
        size = self._pool.get_size()
        return size - self._pool.get_idle_size(), size

    async def close(self) -> None:
        await self._pool.close()


class Transaction:
    """The statements of one open transaction (`StatementRunner.transaction`)."""

    def __init__(self, runner: StatementRunner, conn: asyncpg.Connection) -> None:
        self._runner = runner
        self._conn = conn

    async def rows(self, statement: TextClause, params: Mapping[str, Any]) -> Sequence[Row]:
        positional = self._runner._positional(statement)
        rows: Sequence[Row] = await self._conn.fetch(positional.sql, *positional.args(params))
        return rows


async def open_runner(
    url: str,
    *,
    pool_size: int,
    warm: Sequence[TextClause] = (),
    plan_lifetime: float = PLAN_LIFETIME,
) -> StatementRunner:
    """A runner on `url`; each connection prepares the `warm` statements when it opens,
    and any statement again `plan_lifetime` seconds after it prepared it."""
    prepared = [Positional(statement).sql for statement in warm]
    pool = await asyncpg.create_pool(
        libpq_url(url),
        min_size=1,
        max_size=pool_size,
        init=functools.partial(_setup, warm=prepared),
        reset=_keep_session,
        server_settings=SESSION,
        max_cached_statement_lifetime=plan_lifetime,
    )
    assert pool is not None
    return StatementRunner(pool)
