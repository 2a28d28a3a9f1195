"""Producer features: `leaseq_enqueue` (ADR 0027), paused queues and awaited tasks (ADR
0028), periodic schedules (ADR 0029).

Revision ID: 0003
Revises: 0002

`leaseq_enqueue` applies the rules of `leaseq.domain.validation` (DEFAULT_LIMITS) and of
the ENQUEUE statement (idempotency per queue, the history row, the wake-up NOTIFY), so an
application can enqueue inside its own transaction; tests/contract/test_sql_enqueue.py
ties each check to the domain's. Its search_path is pinned to the schema it is created
in, so a caller's search_path cannot redirect it.
"""

from __future__ import annotations

from alembic import op

from leaseq.adapters.postgres.migrations.enqueue_function import (
    enqueue_result_function,
    pin_search_path,
)

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ARGS = "text, text, jsonb, int, int, timestamptz, text, int, jsonb"


def upgrade() -> None:
    # One settings row per queue that an operator has touched; the flow-control limits
    # of a queue belong here too. Read inside the lease statement (no cache anywhere).
    op.execute(
        """
        CREATE TABLE leaseq_queues (
            queue      text PRIMARY KEY,
            paused     boolean NOT NULL DEFAULT false,
            paused_at  timestamptz,
            updated_at timestamptz NOT NULL
        )
        """
    )
    op.execute(
        """
        CREATE TABLE leaseq_schedules (
            name         text PRIMARY KEY,
            cron         text NOT NULL,
            timezone     text NOT NULL,
            task         json NOT NULL,
            revision     bigint NOT NULL DEFAULT 1,
            next_fire_at timestamptz NOT NULL,
            last_fire_at timestamptz,
            last_task_id uuid,
            created_at   timestamptz NOT NULL,
            updated_at   timestamptz NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX leaseq_schedules_due ON leaseq_schedules (next_fire_at)")
    # A task someone awaits (GET /v1/tasks/{id}?wait_seconds=) announces its final state
    # on the `leaseq_final` channel; others do not, since every NOTIFY takes a lock at
    # commit that serialises the committing transactions.
    op.execute("ALTER TABLE leaseq_tasks ADD COLUMN awaited boolean NOT NULL DEFAULT false")
    op.execute(
        """
        CREATE FUNCTION leaseq_announce_final() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('leaseq_final', NEW.id::text);
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER leaseq_tasks_final AFTER UPDATE ON leaseq_tasks FOR EACH ROW
        WHEN (NEW.awaited AND NEW.state IN ('succeeded', 'dead', 'cancelled')
              AND OLD.state IS DISTINCT FROM NEW.state)
        EXECUTE FUNCTION leaseq_announce_final()
        """
    )
    op.execute(
        """
        CREATE FUNCTION leaseq_uuid7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
            SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
                placing substring(int8send(floor(
                    extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION leaseq_refuse(field text, message text, code text DEFAULT '22023')
        RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION USING MESSAGE = format('leaseq_enqueue: %s: %s', field, message),
                ERRCODE = code, COLUMN = field,
                HINT = 'the same rules as POST /v1/tasks (docs/transactional-enqueue.md)';
        END $$
        """
    )
    op.execute(enqueue_result_function(with_concurrency_key=False, writes_enqueued_event=True))
    op.execute(
        """
        CREATE FUNCTION leaseq_enqueue(
            queue text, type text, payload jsonb, type_version int DEFAULT 1,
            priority int DEFAULT 0, run_at timestamptz DEFAULT NULL,
            idempotency_key text DEFAULT NULL, max_attempts int DEFAULT NULL,
            labels jsonb DEFAULT NULL)
        RETURNS uuid LANGUAGE sql VOLATILE AS $$
            SELECT r.id FROM leaseq_enqueue_result($1, $2, $3, $4, $5, $6, $7, $8, $9) r
        $$
        """
    )
    # Pin each function's search_path to the schema it was created in (and pg_temp last).
    for signature in (
        "leaseq_uuid7()",
        "leaseq_refuse(text, text, text)",
        f"leaseq_enqueue_result({_ARGS})",
        f"leaseq_enqueue({_ARGS})",
        "leaseq_announce_final()",
    ):
        op.execute(pin_search_path(signature))


def downgrade() -> None:
    op.execute(f"DROP FUNCTION leaseq_enqueue({_ARGS})")
    op.execute(f"DROP FUNCTION leaseq_enqueue_result({_ARGS})")
    op.execute("DROP FUNCTION leaseq_refuse(text, text, text)")
    op.execute("DROP FUNCTION leaseq_uuid7()")
    op.execute("DROP TRIGGER leaseq_tasks_final ON leaseq_tasks")
    op.execute("DROP FUNCTION leaseq_announce_final()")
    op.execute("ALTER TABLE leaseq_tasks DROP COLUMN awaited")
    op.execute("DROP TABLE leaseq_schedules")
    op.execute("DROP TABLE leaseq_queues")
