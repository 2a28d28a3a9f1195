"""Alembic environment: runs on the connection `leaseq.adapters.postgres.schema` hands over.

`migrate()` opens an async engine and calls Alembic inside `connection.run_sync`, so
the upgrade runs on that (synchronous facade of the) asyncpg connection.
"""

from __future__ import annotations

from alembic import context

VERSION_TABLE = "leaseq_alembic_version"

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run leaseq's migrations with `leaseq migrate` (or schema.migrate)")

context.configure(connection=connection, version_table=VERSION_TABLE, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
