"""The `leaseq_enqueue_result` function of migrations 0003, 0005, 0006 and 0008, built
from one text.

0005 adds a `concurrency_key` argument (ADR 0030); a PL/pgSQL function cannot be renamed
(its body names its arguments by the function's name), so 0005 creates it anew from the
same text with the key's parts filled in, and 0003 keeps the text it always created. 0006
creates it without the `enqueued` event's insert (ADR 0036). 0008 inserts with a static
statement and makes the id in place (ADR 0040).
"""

from __future__ import annotations

_NAME_RULE = (
    "must be 1-128 characters of letters, digits and _ . : - starting with a letter or digit"
)

_KEY_PARTS = {
    "key_param": "\n            concurrency_key text DEFAULT NULL,",
    "key_declare": "\n            ckey text := leaseq_enqueue_result.concurrency_key;",
    "key_check": """
            IF ckey IS NOT NULL AND length(ckey) NOT BETWEEN 1 AND 256 THEN
                PERFORM leaseq_refuse('concurrency_key', 'must be 1-256 characters');
            END IF;""",
    "key_column": ", concurrency_key",
    "key_value": ", $11",
    "key_argument": ", ckey",
}
_NO_KEY = dict.fromkeys(_KEY_PARTS, "")

# Up to 0005 the function wrote the task's `enqueued` event; from 0006 the history derives
# it from the task row (ADR 0036).
_ENQUEUED_EVENT = """
                    INSERT INTO leaseq_task_events (task_id, at, transition, from_state,
                        to_state, attempt, epoch, worker, error)
                    VALUES (new_id, now(), 'enqueued', NULL, 'pending', 0, 0, NULL, NULL);"""


# Up to 0006 the insert was dynamic SQL, so that the parameters named like columns stay
# columns in its conflict target; PostgreSQL parsed and planned it on every call. From 0008
# it is static (planned once per session) and has no conflict target: the only unique
# indexes are the id's, whose collision makes a new id (the loop), and the key's (ADR
# 0040). The new id is computed in place: `leaseq_uuid7()`, a SQL function with a pinned
# search_path, is never inlined, and a call of it cost about as much as the insert's plan.
_DYNAMIC_INSERT = """
                new_id := leaseq_uuid7();
                -- dynamic, so that the parameters named like columns stay columns here
                EXECUTE 'INSERT INTO leaseq_tasks (id, queue, type, type_version, payload,
                    labels, priority, run_at, attempts, max_attempts, retry_base,
                    retry_factor, retry_max, retry_jitter, idempotency_key, state, epoch,
                    created_at, updated_at{key_column})
                    VALUES ($1, $2, $3, $4, CAST($5 AS json), $6, $7, $8, 0, $9,
                        1.0, 2.0, 3600.0, 0.2, $10, ''pending'', 0, now(), now(){key_value})
                    ON CONFLICT (queue, idempotency_key) WHERE idempotency_key IS NOT NULL
                    DO NOTHING'
                USING new_id, q, kind, type_version, body, COALESCE(tags, '{{}}'::jsonb),
                    priority, due, COALESCE(max_attempts, 20), key{key_argument};"""

_STATIC_INSERT = """
                new_id := {uuid7};
                INSERT INTO leaseq_tasks (id, queue, type, type_version, payload, labels,
                    priority, run_at, attempts, max_attempts, retry_base, retry_factor,
                    retry_max, retry_jitter, idempotency_key, state, epoch, created_at,
                    updated_at, concurrency_key)
                VALUES (new_id, q, kind, type_version, CAST(body AS json),
                    COALESCE(tags, '{{}}'::jsonb), priority, due, 0, COALESCE(max_attempts, 20),
                    1.0, 2.0, 3600.0, 0.2, key, 'pending', 0, now(), now(), ckey)
                ON CONFLICT DO NOTHING;"""

# A UUIDv7 from the database's clock (what `leaseq_uuid7()` of 0003 returns).
UUID7 = """encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
                    placing substring(int8send(floor(
                        extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                    FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid"""


def enqueue_result_function(
    *,
    with_concurrency_key: bool,
    writes_enqueued_event: bool,
    static_insert: bool = False,
    replace: bool = False,
) -> str:
    """CREATE FUNCTION leaseq_enqueue_result(...): the migration 0003 text, or with the
    concurrency key of 0005 as a last argument (DEFAULT NULL); writing the `enqueued`
    event (0003, 0005) or not (0006); inserting by dynamic SQL (up to 0006) or by a
    static statement (0008, which has the key). `replace`: CREATE OR REPLACE, which keeps
    the function's owner and grants (and resets its settings: pin its search_path again,
    `pin_search_path`)."""
    parts = _KEY_PARTS if with_concurrency_key else _NO_KEY
    if static_insert and not with_concurrency_key:
        raise ValueError("the static insert is 0008's, which has the concurrency key")
    insert = (_STATIC_INSERT if static_insert else _DYNAMIC_INSERT).format(uuid7=UUID7, **parts)
    event = _ENQUEUED_EVENT if writes_enqueued_event else ""
    create = "CREATE OR REPLACE FUNCTION" if replace else "CREATE FUNCTION"
    return _TEXT.format(
        name_rule=_NAME_RULE,
        create=create,
        insert=insert,
        enqueued_event=event,
        **parts,
    )


ENQUEUE_RESULT_ARGS = "text, text, jsonb, int, int, timestamptz, text, int, jsonb, text"


def replace_enqueue_result(*, writes_enqueued_event: bool, static_insert: bool) -> list[str]:
    """The statements that replace the function with the concurrency key (0006, 0008 and
    their downgrades): CREATE OR REPLACE, which keeps its owner and grants but resets its
    settings, then its search_path pinned again."""
    return [
        enqueue_result_function(
            with_concurrency_key=True,
            writes_enqueued_event=writes_enqueued_event,
            static_insert=static_insert,
            replace=True,
        ),
        pin_search_path(f"leaseq_enqueue_result({ENQUEUE_RESULT_ARGS})"),
    ]


def pin_search_path(signature: str) -> str:
    """The statement that pins a function's search_path to the schema it is created in
    (and pg_temp last), so that a caller's search_path cannot redirect it (0003)."""
    return (
        "DO $$ BEGIN EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp', "
        f"'{signature}', current_schema()); END $$"
    )


_TEXT = """
        {create} leaseq_enqueue_result(
            queue text, type text, payload jsonb, type_version int DEFAULT 1,
            priority int DEFAULT 0, run_at timestamptz DEFAULT NULL,
            idempotency_key text DEFAULT NULL, max_attempts int DEFAULT NULL,
            labels jsonb DEFAULT NULL,{key_param}
            OUT id uuid, OUT state text, OUT deduplicated boolean)
        LANGUAGE plpgsql VOLATILE AS $fn$
        #variable_conflict use_variable
        DECLARE
            q text := leaseq_enqueue_result.queue;
            kind text := leaseq_enqueue_result.type;
            key text := leaseq_enqueue_result.idempotency_key;
            tags jsonb := leaseq_enqueue_result.labels;{key_declare}
            due timestamptz := COALESCE(leaseq_enqueue_result.run_at, now());
            body text := COALESCE(leaseq_enqueue_result.payload, 'null'::jsonb)::text;
            size bigint;
            bad text;
            new_id uuid;
            inserted bigint;
        BEGIN
            IF q IS NULL OR q !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{{0,127}}$' THEN
                PERFORM leaseq_refuse('queue', '{name_rule}');
            END IF;
            IF kind IS NULL OR kind !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{{0,127}}$' THEN
                PERFORM leaseq_refuse('type', '{name_rule}');
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
            END IF;{key_check}
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
            LOOP{insert}
                GET DIAGNOSTICS inserted = ROW_COUNT;
                IF inserted = 1 THEN{enqueued_event}
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
