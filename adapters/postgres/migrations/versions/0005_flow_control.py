"""Flow control (ADR 0030): a task's concurrency key, a queue's limits and rate bucket,
and each key's turn in the round-robin.

Revision ID: 0005
Revises: 0004

`leaseq_tasks.concurrency_key` is nullable with no default (adding it rewrites nothing).
`leaseq_queues` gains the three limits, `limited` (any of them set: the lease statement's
one-time filter sends such a queue to the limited path), the rate bucket (`bucket_tokens`
as of `bucket_at`) and `rounds` (grants made). `leaseq_queue_keys` holds the grant number
of each key's latest grant (the unkeyed tasks under ''). `leaseq_enqueue` and
`leaseq_enqueue_result` take `concurrency_key` as a last argument with a default, so every
call that worked before works the same.
"""

from __future__ import annotations

from alembic import op

from leaseq.adapters.postgres.migrations.enqueue_function import (
    enqueue_result_function,
    pin_search_path,
)

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_OLD_ARGS = "text, text, jsonb, int, int, timestamptz, text, int, jsonb"
_NEW_ARGS = f"{_OLD_ARGS}, text"


def _enqueue_function(args: str) -> str:
    positions = ", ".join(f"${n}" for n in range(1, len(args.split(",")) + 1))
    key = "\n            , concurrency_key text DEFAULT NULL" if args == _NEW_ARGS else ""
    return f"""
        CREATE FUNCTION leaseq_enqueue(
            queue text, type text, payload jsonb, type_version int DEFAULT 1,
            priority int DEFAULT 0, run_at timestamptz DEFAULT NULL,
            idempotency_key text DEFAULT NULL, max_attempts int DEFAULT NULL,
            labels jsonb DEFAULT NULL{key})
        RETURNS uuid LANGUAGE sql VOLATILE AS $$
            SELECT r.id FROM leaseq_enqueue_result({positions}) r
        $$
        """


def upgrade() -> None:
    op.execute("ALTER TABLE leaseq_tasks ADD COLUMN concurrency_key text")
    # The limited path's candidates: per key, its first ready tasks in claim order.
    op.execute(
        "CREATE INDEX leaseq_tasks_keyed ON leaseq_tasks"
        " (queue, concurrency_key, priority DESC, run_at, id) WHERE state = 'pending'"
    )
    op.execute(
        """
        ALTER TABLE leaseq_queues
            ADD COLUMN concurrency         integer,
            ADD COLUMN concurrency_per_key integer,
            ADD COLUMN rate_per_second     double precision,
            ADD COLUMN limited             boolean GENERATED ALWAYS AS (
                concurrency IS NOT NULL OR concurrency_per_key IS NOT NULL
                OR rate_per_second IS NOT NULL) STORED,
            ADD COLUMN bucket_tokens       double precision,
            ADD COLUMN bucket_at           timestamptz,
            ADD COLUMN rounds              bigint NOT NULL DEFAULT 0
        """
    )
    op.execute(
        """
        CREATE TABLE leaseq_queue_keys (
            queue      text NOT NULL,
            key        text NOT NULL,
            last_grant bigint NOT NULL,
            PRIMARY KEY (queue, key)
        )
        """
    )
    op.execute(f"DROP FUNCTION leaseq_enqueue({_OLD_ARGS})")
    op.execute(f"DROP FUNCTION leaseq_enqueue_result({_OLD_ARGS})")
    op.execute(enqueue_result_function(with_concurrency_key=True, writes_enqueued_event=True))
    op.execute(_enqueue_function(_NEW_ARGS))
    op.execute(pin_search_path(f"leaseq_enqueue_result({_NEW_ARGS})"))
    op.execute(pin_search_path(f"leaseq_enqueue({_NEW_ARGS})"))


def downgrade() -> None:
    op.execute(f"DROP FUNCTION leaseq_enqueue({_NEW_ARGS})")
    op.execute(f"DROP FUNCTION leaseq_enqueue_result({_NEW_ARGS})")
    op.execute(enqueue_result_function(with_concurrency_key=False, writes_enqueued_event=True))
    op.execute(_enqueue_function(_OLD_ARGS))
    op.execute(pin_search_path(f"leaseq_enqueue_result({_OLD_ARGS})"))
    op.execute(pin_search_path(f"leaseq_enqueue({_OLD_ARGS})"))
    op.execute("DROP TABLE leaseq_queue_keys")
    op.execute(
        """
        ALTER TABLE leaseq_queues
            DROP COLUMN limited, DROP COLUMN concurrency, DROP COLUMN concurrency_per_key,
            DROP COLUMN rate_per_second, DROP COLUMN bucket_tokens, DROP COLUMN bucket_at,
            DROP COLUMN rounds
        """
    )
    op.execute("DROP INDEX leaseq_tasks_keyed")
    op.execute("ALTER TABLE leaseq_tasks DROP COLUMN concurrency_key")
