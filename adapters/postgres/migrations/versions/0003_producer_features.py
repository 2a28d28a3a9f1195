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

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_NAME_RULE = (
    "must be 1-128 characters of letters, digits and _ . : - starting with a letter or digit"
)
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
    op.execute(
        f"""
        CREATE FUNCTION leaseq_enqueue_result(
            queue text, type text, payload jsonb, type_version int DEFAULT 1,
            priority int DEFAULT 0, run_at timestamptz DEFAULT NULL,
            idempotency_key text DEFAULT NULL, max_attempts int DEFAULT NULL,
            labels jsonb DEFAULT NULL,
            OUT id uuid, OUT state text, OUT deduplicated boolean)
        LANGUAGE plpgsql VOLATILE AS $fn$
        #variable_conflict use_variable
        DECLARE
            q text := leaseq_enqueue_result.queue;
            kind text := leaseq_enqueue_result.type;
            key text := leaseq_enqueue_result.idempotency_key;
            tags jsonb := leaseq_enqueue_result.labels;
            due timestamptz := COALESCE(leaseq_enqueue_result.run_at, now());
            body text := COALESCE(leaseq_enqueue_result.payload, 'null'::jsonb)::text;
            size bigint;
            bad text;
            new_id uuid;
            inserted bigint;
        BEGIN
            IF q IS NULL OR q !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{{0,127}}$' THEN
                PERFORM leaseq_refuse('queue', '{_NAME_RULE}');
            END IF;
            IF kind IS NULL OR kind !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{{0,127}}$' THEN
                PERFORM leaseq_refuse('type', '{_NAME_RULE}');
            END IF;
            IF type_version IS NULL OR type_version < 1 THEN
                PERFORM leaseq_refuse('type_version', 'must be an integer from 1 to 2147483647');
            END IF;
            IF priority IS NULL OR priority NOT BETWEEN -1000 AND 1000 THEN
                PERFORM leaseq_refuse('priority', 'must be an integer from -1000 to 1000');
            END IF;
            IF max_attempts IS NOT NULL AND max_attempts NOT BETWEEN 1 AND 1000 THEN
                PERFORM leaseq_refuse('max_attempts', 'must be an integer from 1 to 1000');
            END IF;
            IF tags IS NOT NULL THEN
                IF jsonb_typeof(tags) <> 'object' THEN
                    PERFORM leaseq_refuse('labels', 'must be an object of strings');
                END IF;
                IF (SELECT count(*) FROM jsonb_object_keys(tags)) > 64 THEN
                    PERFORM leaseq_refuse('labels', 'at most 64 labels');
                END IF;
                IF EXISTS (SELECT 1 FROM jsonb_object_keys(tags) k
                           WHERE length(k) NOT BETWEEN 1 AND 128) THEN
                    PERFORM leaseq_refuse('labels', 'keys are 1-128 characters');
                END IF;
                SELECT e.key INTO bad FROM jsonb_each(tags) e
                WHERE jsonb_typeof(e.value) <> 'string' OR length(e.value #>> '{{}}') > 1024
                LIMIT 1;
                IF bad IS NOT NULL THEN
                    PERFORM leaseq_refuse('labels.' || bad, 'values are strings of at most 1024');
                END IF;
            END IF;
            IF key IS NOT NULL AND length(key) NOT BETWEEN 1 AND 256 THEN
                PERFORM leaseq_refuse('idempotency_key', 'must be 1-256 characters');
            END IF;
            -- depth, then size, as validation.encode_json: 64 levels, 1 MiB of compact JSON
            IF length(body) - length(translate(body, '[{{', '')) > 64
               AND jsonb_path_exists(payload, 'strict $.**{{64 to last}} ? '
                   '(@.type() == "object" || @.type() == "array")') THEN
                PERFORM leaseq_refuse('payload', 'nested deeper than 64 levels');
            END IF;
            size := octet_length(body);
            IF size > 1048576 THEN
                -- jsonb's text puts a space after each ':' and ',' between items; the
                -- limit is on the compact form, as the service measures it
                SELECT size - COALESCE(sum(CASE jsonb_typeof(v)
                    WHEN 'object'
                        THEN GREATEST(2 * (SELECT count(*) FROM jsonb_object_keys(v)) - 1, 0)
                    WHEN 'array' THEN GREATEST(jsonb_array_length(v) - 1, 0)
                    ELSE 0 END), 0)
                INTO size FROM jsonb_path_query(payload, 'strict $.**') AS v;
                IF size > 1048576 THEN
                    PERFORM leaseq_refuse('payload',
                        format('%s bytes exceeds the limit of 1048576 bytes', size), '54000');
                END IF;
            END IF;
            LOOP
                new_id := leaseq_uuid7();
                -- dynamic, so that the parameters named like columns stay columns here
                EXECUTE 'INSERT INTO leaseq_tasks (id, queue, type, type_version, payload,
                    labels, priority, run_at, attempts, max_attempts, retry_base,
                    retry_factor, retry_max, retry_jitter, idempotency_key, state, epoch,
                    created_at, updated_at)
                    VALUES ($1, $2, $3, $4, CAST($5 AS json), $6, $7, $8, 0, $9,
                        1.0, 2.0, 3600.0, 0.2, $10, ''pending'', 0, now(), now())
                    ON CONFLICT (queue, idempotency_key) WHERE idempotency_key IS NOT NULL
                    DO NOTHING'
                USING new_id, q, kind, type_version, body, COALESCE(tags, '{{}}'::jsonb),
                    priority, due, COALESCE(max_attempts, 20), key;
                GET DIAGNOSTICS inserted = ROW_COUNT;
                IF inserted = 1 THEN
                    INSERT INTO leaseq_task_events (task_id, at, transition, from_state,
                        to_state, attempt, epoch, worker, error)
                    VALUES (new_id, now(), 'enqueued', NULL, 'pending', 0, 0, NULL, NULL);
                    IF due <= now() THEN
                        PERFORM pg_notify('leaseq_wakeup', q);
                    END IF;
                    id := new_id; state := 'pending'; deduplicated := false;
                    RETURN;
                END IF;
                -- a repeat: the task that holds the key answers (unless pruned meanwhile)
                SELECT t.id, t.state INTO id, state FROM leaseq_tasks t
                WHERE t.queue = q AND t.idempotency_key = key;
                IF id IS NOT NULL THEN
                    deduplicated := true;
                    RETURN;
                END IF;
            END LOOP;
        END $fn$
        """
    )
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
        op.execute(
            "DO $$ BEGIN EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp', "
            f"'{signature}', current_schema()); END $$"
        )


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
