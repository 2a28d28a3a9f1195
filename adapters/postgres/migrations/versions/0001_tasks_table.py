"""The tasks table, shaped for a hot queue (see docs/adr/0004-hot-queue-table.md).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE leaseq_tasks (
            id               uuid PRIMARY KEY,
            queue            text NOT NULL,
            type             text NOT NULL,
            type_version     integer NOT NULL,
            payload          json,
            labels           jsonb NOT NULL DEFAULT '{}',
            priority         integer NOT NULL DEFAULT 0,
            run_at           timestamptz NOT NULL,
            attempts         integer NOT NULL DEFAULT 0,
            max_attempts     integer NOT NULL,
            retry_base       double precision NOT NULL,
            retry_factor     double precision NOT NULL,
            retry_max        double precision NOT NULL,
            retry_jitter     double precision NOT NULL,
            idempotency_key  text,
            state            text NOT NULL DEFAULT 'pending' CHECK (
                state IN ('pending', 'leased', 'succeeded', 'dead', 'cancelled')),
            epoch            bigint NOT NULL DEFAULT 0,
            lease_owner      text,
            lease_token      text,
            lease_expires_at timestamptz,
            last_error       text,
            result           json,
            created_at       timestamptz NOT NULL,
            updated_at       timestamptz NOT NULL,
            finished_at      timestamptz
        ) WITH (
            fillfactor = 70,
            autovacuum_vacuum_scale_factor = 0.01,
            autovacuum_vacuum_threshold = 500,
            autovacuum_vacuum_insert_scale_factor = 0.05,
            autovacuum_analyze_scale_factor = 0.02,
            autovacuum_vacuum_cost_delay = 0
        )
        """
    )
    op.execute(
        "CREATE INDEX leaseq_tasks_ready ON leaseq_tasks (queue, priority DESC, run_at, id)"
        " WHERE state = 'pending'"
    )
    op.execute(
        "CREATE INDEX leaseq_tasks_leases ON leaseq_tasks (queue, lease_expires_at)"
        " WHERE state = 'leased'"
    )
    op.execute(
        "CREATE UNIQUE INDEX leaseq_tasks_idempotency ON leaseq_tasks (queue, idempotency_key)"
        " WHERE idempotency_key IS NOT NULL"
    )
    op.execute(
        "CREATE INDEX leaseq_tasks_finished ON leaseq_tasks (finished_at)"
        " WHERE finished_at IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP TABLE leaseq_tasks")
