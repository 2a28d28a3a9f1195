"""The test-database chain yields a server the tests can create databases on."""

import asyncpg


async def test_each_test_gets_a_fresh_empty_database(pg_database_url: str) -> None:
    conn = await asyncpg.connect(pg_database_url)
    try:
        tables = await conn.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
        version = await conn.fetchval("SHOW server_version_num")
    finally:
        await conn.close()
    assert tables == 0
    assert int(version) >= 150000
