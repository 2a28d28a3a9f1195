"""Schema versioning: apply the Alembic migrations shipped in this package, report the version."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from leaseq.adapters.postgres.engine import create_engine
from leaseq.adapters.postgres.errors import translated

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "leaseq_alembic_version"
# Serialises concurrent `leaseq migrate` runs (several replicas starting at once).
MIGRATION_LOCK = 0x6C65617365710001


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def expected_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "the package ships no migrations"
    return head


def read_revision(connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def _upgrade(connection: Connection) -> str | None:
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    command.upgrade(_config(connection), "head")
    return read_revision(connection)


async def migrate(url: str) -> str:
    """Bring the database to the newest schema; a no-op when it is there already.
    Returns the schema revision. Raises StoreUnavailable when the database is unreachable."""
    engine = create_engine(url, pool_size=1)
    try:
        with translated():
            async with engine.begin() as conn:
                revision = await conn.run_sync(_upgrade)
    finally:
        await engine.dispose()
    assert revision is not None
    return revision


async def schema_status(url: str) -> tuple[str | None, str]:
    """(the database's schema revision or None when unmigrated, the revision this code needs)."""
    engine = create_engine(url, pool_size=1)
    try:
        with translated():
            async with engine.connect() as conn:
                current = await conn.run_sync(read_revision)
    finally:
        await engine.dispose()
    return current, expected_revision()
