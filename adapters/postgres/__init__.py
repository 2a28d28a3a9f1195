"""PostgreSQL task store (SQLAlchemy asyncio on asyncpg), its migrations and wake-ups."""

from leaseq.adapters.postgres.notifier import PostgresNotifier
from leaseq.adapters.postgres.schema import migrate, schema_status
from leaseq.adapters.postgres.store import PostgresTaskStore, open_postgres_store

__all__ = [
    "PostgresNotifier",
    "PostgresTaskStore",
    "migrate",
    "open_postgres_store",
    "schema_status",
]
