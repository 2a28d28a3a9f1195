"""PostgreSQL only: the schema is migrated by Alembic, idempotently, and checked on open."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import asyncpg
import pytest

from leaseq.adapters.postgres import migrate, open_postgres_store, schema_status
from leaseq.adapters.postgres.migrations.enqueue_function import ENQUEUE_RESULT_ARGS
from leaseq.ports import SchemaOutOfDate, StoreUnavailable

T = TypeVar("T")


async def _fetch(url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


async def test_migrate_creates_the_schema_on_an_empty_database(pg_database_url: str) -> None:
    assert await schema_status(pg_database_url) == (None, "0008")

    assert await migrate(pg_database_url) == "0008"

    assert await schema_status(pg_database_url) == ("0008", "0008")
    indexes = await _fetch(
        pg_database_url, "SELECT indexname FROM pg_indexes WHERE tablename = 'leaseq_tasks'"
    )
    assert {r["indexname"] for r in indexes} >= {
        "leaseq_tasks_ready",
        "leaseq_tasks_leases",
        "leaseq_tasks_idempotency",
    }


async def test_migrate_a_second_time_changes_nothing(pg_database_url: str) -> None:
    await migrate(pg_database_url)
    catalog = "SELECT oid, relname FROM pg_class WHERE relname LIKE 'leaseq%' ORDER BY relname"
    before = await _fetch(pg_database_url, catalog)

    assert await migrate(pg_database_url) == "0008"

    assert await _fetch(pg_database_url, catalog) == before


async def test_a_store_refuses_an_unmigrated_database(pg_database_url: str) -> None:
    with pytest.raises(SchemaOutOfDate, match="leaseq migrate"):
        await open_postgres_store(pg_database_url)


async def test_a_store_refuses_a_schema_of_another_revision(pg_database_url: str) -> None:
    await migrate(pg_database_url)
    conn = await asyncpg.connect(pg_database_url)
    try:
        await conn.execute("UPDATE leaseq_alembic_version SET version_num = '0000'")
    finally:
        await conn.close()

    with pytest.raises(SchemaOutOfDate, match="leaseq migrate"):
        await open_postgres_store(pg_database_url)


async def test_an_unreachable_database_is_reported_as_unavailable() -> None:
    with pytest.raises(StoreUnavailable):
        await open_postgres_store("postgresql://postgres@127.0.0.1:1/nothing")


async def test_migration_0005_goes_down_to_0004_and_up_again(pg_database_url: str) -> None:
    from alembic import command
    from sqlalchemy import text

    from leaseq.adapters.postgres.engine import create_engine
    from leaseq.adapters.postgres.schema import _config, read_revision

    def down_then_up(connection: Any) -> list[str | None]:
        seen = []
        command.downgrade(_config(connection), "0004")
        seen.append(read_revision(connection))
        connection.execute(text("SELECT leaseq_enqueue('q', 't', '{}')"))  # 0004's function
        command.upgrade(_config(connection), "head")
        seen.append(read_revision(connection))
        connection.execute(text("SELECT leaseq_enqueue('q', 't', '{}', concurrency_key => 'k')"))
        return seen

    await migrate(pg_database_url)
    engine = create_engine(pg_database_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            assert await conn.run_sync(down_then_up) == ["0004", "0008"]
    finally:
        await engine.dispose()
    keys = await _fetch(pg_database_url, "SELECT concurrency_key FROM leaseq_tasks ORDER BY id")
    assert [r["concurrency_key"] for r in keys] == [None, "k"]


async def test_migration_0006_stops_the_sql_function_writing_the_enqueued_event(
    pg_database_url: str,
) -> None:
    """At 0005 the function writes the event; at 0006 it does not (ADR 0036). The function
    is replaced, not dropped: it keeps the grants an operator gave it."""
    from alembic import command
    from sqlalchemy import text

    from leaseq.adapters.postgres.schema import _config

    def rows_written_by_the_function(connection: Any) -> int:
        count = text("SELECT count(*) FROM leaseq_task_events")
        before = connection.execute(count).scalar()
        connection.execute(text("SELECT leaseq_enqueue('q', 't', '{}')"))
        return int(connection.execute(count).scalar() - before)

    def down_then_up(connection: Any) -> list[int]:
        command.downgrade(_config(connection), "0005")
        at_0005 = rows_written_by_the_function(connection)
        command.upgrade(_config(connection), "head")
        return [at_0005, rows_written_by_the_function(connection)]

    assert await _down_and_up_keeping_grants(pg_database_url, down_then_up) == [1, 0]


async def test_migration_0008_makes_the_sql_functions_insert_static_and_keeps_what_it_does(
    pg_database_url: str,
) -> None:
    """At 0007 the function inserts by dynamic SQL and calls leaseq_uuid7(); at 0008 by a
    static statement with the id made in place (ADR 0040). Both enqueue and deduplicate
    alike, and the function keeps its grants and its pinned search_path."""
    from alembic import command
    from sqlalchemy import text

    from leaseq.adapters.postgres.schema import _config

    source = text("SELECT prosrc FROM pg_proc WHERE proname = 'leaseq_enqueue_result'")
    call = text(
        "SELECT r.id, r.deduplicated FROM leaseq_enqueue_result("
        "'q', 't', '{}', idempotency_key => :key) AS r"
    )

    def calls(connection: Any, key: str) -> dict[str, Any]:
        first, again = (connection.execute(call, {"key": key}).one() for _ in range(2))
        body = connection.execute(source).scalar()
        return {
            "dynamic": "EXECUTE 'INSERT" in body,
            "uuid7 call": "leaseq_uuid7()" in body,
            "answers": (first.deduplicated, again.deduplicated, again.id == first.id),
            "version": first.id.version,
        }

    def down_then_up(connection: Any) -> list[dict[str, Any]]:
        command.downgrade(_config(connection), "0007")
        at_0007 = calls(connection, "k7")
        command.upgrade(_config(connection), "head")
        return [at_0007, calls(connection, "k8")]

    at_0007, at_0008 = await _down_and_up_keeping_grants(pg_database_url, down_then_up)
    answers = (False, True, True)
    assert at_0007 == {"dynamic": True, "uuid7 call": True, "answers": answers, "version": 7}
    assert at_0008 == {"dynamic": False, "uuid7 call": False, "answers": answers, "version": 7}
    assert await _fetch(pg_database_url, "SELECT count(*) AS n FROM leaseq_tasks") == [(2,)]


async def _down_and_up_keeping_grants(url: str, down_then_up: Callable[[Any], T]) -> T:
    """Migrate `url`, grant EXECUTE on the enqueue function to pg_monitor, run
    `down_then_up(connection)` in one transaction and return what it returns; the
    function replaced on the way must keep the grant and its pinned search_path."""
    from leaseq.adapters.postgres.engine import create_engine

    await migrate(url)
    signature = f"leaseq_enqueue_result({ENQUEUE_RESULT_ARGS})"
    await _fetch(url, f"GRANT EXECUTE ON FUNCTION {signature} TO pg_monitor")
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            seen = await conn.run_sync(down_then_up)
    finally:
        await engine.dispose()
    [row] = await _fetch(
        url,
        "SELECT CAST(p.proacl AS text) AS acl, p.proconfig FROM pg_proc p"
        " WHERE p.proname = 'leaseq_enqueue_result'",
    )
    assert "pg_monitor=X" in row["acl"]
    assert any(setting.startswith("search_path=") for setting in row["proconfig"])
    return seen
