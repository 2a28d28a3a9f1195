"""The transition history: one narrow row per transition, written by the same statement.

Revision ID: 0002
Revises: 0001

`seq` orders a task's events: each transition inserts its row while it holds the task's
row lock, so `seq` follows the order in which the transitions happened (`at` is the
transaction's clock and may tie or, across concurrent statements, invert). No foreign key:
a key check would run per inserted row; the prune statement deletes the events itself.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE leaseq_task_events (
            seq         bigint GENERATED ALWAYS AS IDENTITY,
            task_id     uuid NOT NULL,
            at          timestamptz NOT NULL,
            transition  text NOT NULL,
            from_state  text,
            to_state    text NOT NULL,
            attempt     integer NOT NULL,
            epoch       bigint NOT NULL,
            worker      text,
            error       text
        ) WITH (
            autovacuum_vacuum_insert_scale_factor = 0.05,
            autovacuum_analyze_scale_factor = 0.02
        )
        """
    )
    op.execute("CREATE INDEX leaseq_task_events_task ON leaseq_task_events (task_id, seq)")


def downgrade() -> None:
    op.execute("DROP TABLE leaseq_task_events")
