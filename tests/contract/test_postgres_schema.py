"""PostgreSQL only: the schema is migrated by Alembic, idempotently, and checked on open."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from leaseq.adapters.postgres import migrate, open_postgres_store, schema_status
from leaseq.ports import SchemaOutOfDate, StoreUnavailable


async def _fetch(url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


async def test_migrate_creates_the_schema_on_an_empty_database(pg_database_url: str) -> None:
    assert await schema_status(pg_database_url) == (None, "0005")

    assert await migrate(pg_database_url) == "0005"

    assert await schema_status(pg_database_url) == ("0005", "0005")
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

    assert await migrate(pg_database_url) == "0005"

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
            assert await conn.run_sync(down_then_up) == ["0004", "0005"]
    finally:
        await engine.dispose()
    keys = await _fetch(pg_database_url, "SELECT concurrency_key FROM leaseq_tasks ORDER BY id")
    assert [r["concurrency_key"] for r in keys] == [None, "k"]
