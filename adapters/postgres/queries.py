"""Every SQL statement of the PostgreSQL task store, named; all values are bound parameters.

Each transition is one statement (a transaction of its own, run in autocommit). `:now`
is NULL in production, so `now()`, PostgreSQL's clock, decides; tests pass an instant.
Durations travel as whole microseconds, so no interval ever carries a day part.
"""

from __future__ import annotations

import functools

from sqlalchemy import TextClause, text

from leaseq.domain.history import HISTORY_ERROR_CHARS
from leaseq.domain.transitions import EXPIRED_ERROR

CHANNEL = "leaseq_wakeup"
# Awaited tasks reaching a final state, announced by a trigger (migration 0003, ADR 0028).
FINAL_CHANNEL = "leaseq_final"

# Inline rather than a CTE, so that the planner sees a stable value usable in index scans.
_NOW = "COALESCE(CAST(:now AS timestamptz), now())"
_MICROS = "interval '1 microsecond'"
_MINUTE = "interval '1 minute'"

# The transition history (leaseq_task_events) is written by the statement that makes the
# transition, from its RETURNING rows: atomic, and no extra round trip. An enqueue, a grant
# and a completion write none: the task row records them (HISTORY derives them, ADR 0036).
# A lease that ends otherwise writes its grant's `leased` row then, before its own event.
# `lease_owner` is kept after a lease ends (only `lease_token` says whether a lease
# exists), so the event can name the worker that finished it.
_EVENT_COLUMNS = "task_id, at, transition, from_state, to_state, attempt, epoch, worker, error"


def _events(select: str) -> str:
    """A CTE that appends the rows of `select` (in _EVENT_COLUMNS order) to the history."""
    return f"logged AS (INSERT INTO leaseq_task_events ({_EVENT_COLUMNS}) {select})"


def _ordered_events(*arms: str) -> str:
    """A CTE that appends the rows of `arms` to the history. Each arm is a SELECT of the
    _EVENT_COLUMNS, then `n` (the statement's order of its tasks, or 0) and `step` (the
    order of a task's rows): `seq` follows that order, so a task's events read in order."""
    union = "\n            UNION ALL\n            ".join(arms)
    return _events(f"""SELECT e.task_id, e.at, e.transition, e.from_state, e.to_state,
            e.attempt, e.epoch, e.worker, e.error
        FROM (
            {union}
        ) AS e({_EVENT_COLUMNS}, n, step)
        ORDER BY e.n, e.task_id, e.step""")


def _stored_leased(task_id: str, epoch: str) -> str:
    """Whether the `leased` row of the grant of `epoch` is stored: written at the grant by
    older code (ADR 0036), so neither HISTORY nor the lease's end adds another."""
    return f"""EXISTS (SELECT 1 FROM leaseq_task_events s
            WHERE s.task_id = {task_id} AND s.transition = 'leased' AND s.epoch = {epoch})"""


def _deferred_leased(
    source: str,
    *,
    n: str = "0",
    attempt: str = "u.attempts",
    epoch: str = "u.epoch",
    worker: str = "u.lease_owner",
    leased_at: str = "u.leased_at",
    when: str = "true",
) -> str:
    """An arm of `_ordered_events`: the `leased` rows of the grants whose leases the rows of
    `source` (as `u`) ended other than by success; step 0, before the ending's own row. A
    grant writes no row (ADR 0036). None for a grant of older code: it set no `leased_at`
    (or an earlier lease's), and stored its row."""
    return f"""SELECT u.id, {leased_at}, 'leased', 'pending', 'leased', {attempt}, {epoch},
                {worker}, NULL, {n}, 0
            FROM {source} u
            WHERE {when} AND {leased_at} IS NOT NULL AND NOT {_stored_leased("u.id", epoch)}"""


def _clip(error: str) -> str:
    return f"left({error}, {HISTORY_ERROR_CHARS})"


_EXPIRED_TEXT = _clip("CAST(:expired_error AS text)")

# The limited queues (ADR 0030): a lease that ends there frees a slot, so its waiters may
# claim at once. Uncorrelated: read once per statement (a handful of rows at most).
_LIMITED = "SELECT p.queue FROM leaseq_queues p WHERE p.limited"

# Alongside a result row: wakes the waiters of the row's queue when the row is ready, or
# when the row's queue is limited (its lease ended: a slot is free).
_WAKE_ROW = f"""woke AS (
    SELECT pg_notify('{CHANNEL}', u.queue) FROM changed u
    WHERE (u.state = 'pending' AND u.run_at <= {_NOW}) OR u.queue IN ({_LIMITED}))"""

# RetryPolicy.delay in SQL, on the row's attempts and the bound jitter `:draw`: the same
# IEEE double arithmetic as Python, floored to whole ms. A power that would overflow a
# double (Python's OverflowError) or a product far beyond any cap gives the cap.
_EXPONENT = "CAST(LEAST(t.attempts - 1, 1000) AS double precision)"
_RAW_BACKOFF = f"""(CASE
    WHEN t.retry_base = 0 THEN CAST(0 AS double precision)
    WHEN {_EXPONENT} * ln(t.retry_factor) > 709
      OR ln(t.retry_base) + {_EXPONENT} * ln(t.retry_factor) > 700 THEN t.retry_max
    ELSE LEAST(t.retry_max, t.retry_base * power(t.retry_factor, {_EXPONENT}))
  END)"""


def _backoff(draw: str) -> str:
    raw = _RAW_BACKOFF
    seconds = f"({raw} * (1.0 - t.retry_jitter) + {raw} * t.retry_jitter * {draw})"
    return f"(floor({seconds} * 1000.0) * interval '1 millisecond')"


def _report_record(fingerprint: str, state: str, attempts: str, run_at: str, error: str) -> str:
    """SET items of the record of the report that ends the lease (domain ReportRecord):
    its fingerprint and the fields it leaves, each the same SQL expression as the SET
    item of that field (evaluated on the old row `t`, as every SET item is)."""
    return f""",
        report_fingerprint = {fingerprint}, report_state = {state}, report_at = {_NOW},
        report_epoch = t.epoch, report_attempts = {attempts}, report_run_at = {run_at},
        report_last_error = {error}"""


_RETRY_DEAD = "t.attempts >= t.max_attempts"
_RETRY_STATE = f"CASE WHEN {_RETRY_DEAD} THEN 'dead' ELSE 'pending' END"


def _retry_run_at(delay_us: str, draw: str) -> str:
    delay = f"COALESCE({delay_us} * {_MICROS}, {_backoff(draw)})"
    return f"CASE WHEN {_RETRY_DEAD} THEN t.run_at ELSE {_NOW} + {delay} END"


def _retry_set(delay_us: str, draw: str, error: str) -> str:
    """SET list of `retry`: pending at now + delay, or dead when the attempts are used up."""
    run_at = _retry_run_at(delay_us, draw)
    return f"""
        state = {_RETRY_STATE},
        run_at = {run_at},
        result = CASE WHEN {_RETRY_DEAD} THEN NULL ELSE t.result END,
        finished_at = CASE WHEN {_RETRY_DEAD} THEN {_NOW} ELSE t.finished_at END,
        last_error = {error},
        lease_token = NULL, lease_expires_at = NULL,
        updated_at = {_NOW}""" + _report_record(
        ":fingerprint", _RETRY_STATE, "t.attempts", run_at, error
    )


_COMPLETE_SET = f"""
        state = 'succeeded', result = CAST(:result AS json), finished_at = {_NOW},
        lease_token = NULL, lease_expires_at = NULL, updated_at = {_NOW}""" + _report_record(
    ":fingerprint", "'succeeded'", "t.attempts", "t.run_at", "t.last_error"
)

_FAIL_SET = f"""
        state = 'dead', last_error = :error, result = NULL, finished_at = {_NOW},
        lease_token = NULL, lease_expires_at = NULL, updated_at = {_NOW}""" + _report_record(
    ":fingerprint", "'dead'", "t.attempts", "t.run_at", ":error"
)

_RELEASE_ATTEMPTS = "GREATEST(0, t.attempts - 1)"
_RELEASE_SET = f"""
        state = 'pending', attempts = {_RELEASE_ATTEMPTS},
        lease_token = NULL, lease_expires_at = NULL, updated_at = {_NOW}""" + _report_record(
    ":fingerprint", "'pending'", _RELEASE_ATTEMPTS, "t.run_at", "t.last_error"
)

_HEARTBEAT_SET = (
    f"lease_expires_at = {_NOW} + CAST(:lease_us AS bigint) * {_MICROS}, updated_at = {_NOW}"
)

_FENCE = f"""t.id = :id AND t.lease_token = :token AND t.state = 'leased'
      AND t.lease_expires_at > {_NOW}"""


def _fenced(
    set_list: str,
    *,
    wakes: bool,
    transition: str | None,
    error: str = "NULL",
    leased_attempt: str = "u.attempts",
) -> TextClause:
    """One fenced call: the UPDATE matches only the live lease that `:token` proves; the
    history rows are the grant's (deferred, at attempt `leased_attempt`) and the one that
    names the transition (an SQL expression over the new row `u`). None: a success, which
    the task row records, and HISTORY derives both events (ADR 0036)."""
    ctes = [f"changed AS (UPDATE leaseq_tasks t SET {set_list} WHERE {_FENCE} RETURNING t.*)"]
    if wakes:
        ctes.append(_WAKE_ROW)
    if transition is not None:
        ctes.append(
            _ordered_events(
                _deferred_leased("changed", attempt=leased_attempt),
                f"""SELECT u.id, u.updated_at, {transition}, 'leased', u.state, u.attempts,
                u.epoch, u.lease_owner, {error}, 0, 1 FROM changed u""",
            )
        )
    woken = "(SELECT count(*) FROM woke)" if wakes else "0"
    return text(f"WITH {', '.join(ctes)} SELECT u.*, {woken} AS woken FROM changed u")


HEARTBEAT = text(f"UPDATE leaseq_tasks t SET {_HEARTBEAT_SET} WHERE {_FENCE} RETURNING t.*")
COMPLETE = _fenced(_COMPLETE_SET, wakes=True, transition=None)  # derived (ADR 0036)
FAIL = _fenced(_FAIL_SET, wakes=True, transition="'failed'", error=_clip("u.last_error"))
# A release gives its attempt back: the grant's attempt is one more than the row keeps.
RELEASE = _fenced(
    _RELEASE_SET, wakes=True, transition="'released'", leased_attempt="u.attempts + 1"
)
RETRY = _fenced(
    _retry_set("CAST(:delay_us AS bigint)", "CAST(:draw AS double precision)", ":error"),
    wakes=True,
    transition="CASE WHEN u.state = 'dead' THEN 'dead_lettered' ELSE 'retried' END",
    error=_clip("u.last_error"),
)

# The read that explains a refusal: the task as stored, and the instant to judge it at.
FENCE_STATE = text(
    f"SELECT t.*, {_NOW} AS judged_at FROM leaseq_tasks t WHERE t.id = ANY(CAST(:ids AS uuid[]))"
)

# report: many outcomes in one statement; rows come back with their position `n`.
_REPORTED_STATE = """CASE i.kind WHEN 'complete' THEN 'succeeded' WHEN 'fail' THEN 'dead'
                ELSE CASE WHEN t.attempts >= t.max_attempts THEN 'dead' ELSE 'pending' END END"""
_REPORTED_RUN_AT = f"""CASE WHEN i.kind = 'retry' AND t.attempts < t.max_attempts
                THEN {_NOW} + COALESCE(i.delay_us * {_MICROS}, {_backoff("i.draw")})
                ELSE t.run_at END"""
_REPORTED_ERROR = "CASE WHEN i.kind = 'complete' THEN t.last_error ELSE i.error END"
# What a report answers (ADR 0037): the columns of a `ReportedTask` (its worker needs no
# more), or with `with_tasks` the whole row.
REPORTED_COLUMNS = (
    "u.n, u.id, u.queue, u.type, u.state, u.attempts, u.epoch, u.last_error, u.updated_at"
)


def _report(answer: str) -> TextClause:
    """The batch report: apply each outcome whose lease is live, answer `answer` per
    applied one (and `n`, its place in the batch)."""
    return text(
        f"""WITH
    input AS (
        SELECT * FROM unnest(
            CAST(:ids AS uuid[]), CAST(:tokens AS text[]), CAST(:kinds AS text[]),
            CAST(:results AS text[]), CAST(:errors AS text[]), CAST(:delays_us AS bigint[]),
            CAST(:draws AS double precision[]), CAST(:fingerprints AS text[])
        ) WITH ORDINALITY AS i(id, token, kind, result, error, delay_us, draw, fingerprint, n)),
    changed AS (
        UPDATE leaseq_tasks t SET
            state = {_REPORTED_STATE},
            run_at = {_REPORTED_RUN_AT},
            result = CASE WHEN i.kind = 'complete' THEN CAST(i.result AS json)
                WHEN i.kind = 'retry' AND t.attempts < t.max_attempts THEN t.result
                ELSE NULL END,
            finished_at = CASE WHEN i.kind = 'retry' AND t.attempts < t.max_attempts
                THEN t.finished_at ELSE {_NOW} END,
            last_error = {_REPORTED_ERROR},
            lease_token = NULL, lease_expires_at = NULL,
            updated_at = {_NOW}{
            _report_record(
                "i.fingerprint", _REPORTED_STATE, "t.attempts", _REPORTED_RUN_AT, _REPORTED_ERROR
            )
        }
        FROM input i
        WHERE t.id = i.id AND t.lease_token = i.token AND t.state = 'leased'
          AND t.lease_expires_at > {_NOW}
        RETURNING i.n, i.kind, t.*),
    {
            _ordered_events(
                _deferred_leased("changed", n="u.n", when="u.kind <> 'complete'"),
                f'''SELECT u.id, u.updated_at,
                CASE WHEN u.kind = 'fail' THEN 'failed'
                    WHEN u.state = 'dead' THEN 'dead_lettered' ELSE 'retried' END,
                'leased', u.state, u.attempts, u.epoch, u.lease_owner,
                {_clip("u.last_error")}, u.n, 1
            FROM changed u WHERE u.kind <> 'complete'
            ''',
            )
        },
    woke AS (
        SELECT pg_notify('{CHANNEL}', q.queue) FROM (
            SELECT DISTINCT u.queue FROM changed u
            WHERE (u.state = 'pending' AND u.run_at <= {_NOW}) OR u.queue IN ({_LIMITED})) q)
    SELECT {answer}, (SELECT count(*) FROM woke) AS woken FROM changed u"""
    )


REPORT = _report("u.*")
REPORT_BRIEF = _report(REPORTED_COLUMNS)

# lease: dead-letter the exhausted expired leases in scope, then claim in claim order.
# Two index-ordered arms (ready pending tasks; expired leases with attempts left, ready
# from their expiry instant) are merged; SKIP LOCKED keeps concurrent claimers apart.
# Paused queues (ADR 0028) and limited ones (ADR 0030): checked here, in the statement, so
# that a pause or a limit holds on every replica at once; a one-time filter (it names no
# column of t), so such a queue's index is not even scanned: a limited queue's grants are
# made by the limited path (flow_queries.py), which this statement leaves to the store.
_UNRESTRICTED = """NOT EXISTS (SELECT 1 FROM leaseq_queues p
    WHERE p.queue = :queue AND (p.paused OR p.limited))"""
SCOPE = """t.queue = :queue
    AND (CAST(:types AS text[]) IS NULL OR (t.type, t.type_version)
    IN (SELECT w.type, w.version FROM unnest(CAST(:types AS text[]), CAST(:versions AS int[]))
        AS w(type, version)))"""
_IN_SCOPE = f"{SCOPE} AND {_UNRESTRICTED}"


def exhausted_cte(scope: str) -> str:
    """The lease's first step: dead-letter the expired leases in `scope` with no attempt
    left (the memory store's `plan.exhausted`).

    The locked ids are a CTE of their own, joined by the UPDATE, not an `IN (SELECT …
    FOR UPDATE)`: a subquery that locks rows cannot be flattened, and a generic plan made
    when the table looked empty ran it once per task of the table (n² rows read, 15 s a
    lease at 10,000 tasks). MATERIALIZED: it runs once, whatever the plan."""
    return f"""spent AS MATERIALIZED (
        SELECT t.id FROM leaseq_tasks t
        WHERE {scope} AND t.state = 'leased' AND t.lease_expires_at <= {_NOW}
          AND t.attempts >= t.max_attempts
        FOR UPDATE OF t SKIP LOCKED),
    exhausted AS (
        UPDATE leaseq_tasks t SET state = 'dead', last_error = :expired_error,
            finished_at = {_NOW}, updated_at = {_NOW}
        FROM spent WHERE t.id = spent.id
        RETURNING t.id, t.updated_at, t.attempts, t.epoch, t.lease_owner, t.leased_at)"""


# The grant itself, on the tasks of `chosen` (id, lapsed, old_owner, old_leased_at, n: the
# grant order). `leased_at` records the grant, for its derived `leased` event (ADR 0036).
GRANT_CTE = f"""granted AS (
        UPDATE leaseq_tasks t SET
            state = 'leased', attempts = t.attempts + 1, epoch = t.epoch + 1,
            run_at = CASE WHEN t.state = 'leased' THEN t.lease_expires_at ELSE t.run_at END,
            last_error = CASE WHEN t.state = 'leased' THEN :expired_error ELSE t.last_error END,
            lease_owner = :owner, lease_token = (CAST(:tokens AS text[]))[ch.n],
            lease_request = :request_id, leased_at = {_NOW},
            lease_expires_at = {_NOW} + CAST(:lease_us AS bigint) * {_MICROS}, updated_at = {_NOW}
        FROM chosen ch
        WHERE t.id = ch.id
        RETURNING ch.n, ch.lapsed, ch.old_owner, ch.old_leased_at, t.*)"""

# The history of a lease statement: the dead-lettered (each after its lease's deferred
# `leased` row), then per grant of an expired lease, that lease's `leased` row and its expiry,
# in grant order. The grants themselves write no row: HISTORY derives them (ADR 0036).
LEASE_EVENTS = _ordered_events(
    _deferred_leased("exhausted"),
    f"""SELECT u.id, u.updated_at, 'dead_lettered', 'leased', 'dead', u.attempts, u.epoch,
                u.lease_owner, {_EXPIRED_TEXT}, 0, 1 FROM exhausted u""",
    _deferred_leased(
        "granted",
        n="u.n",
        attempt="u.attempts - 1",
        epoch="u.epoch - 1",
        worker="u.old_owner",
        leased_at="u.old_leased_at",
        when="u.lapsed",
    ),
    f"""SELECT u.id, u.updated_at, 'expired', 'leased', 'pending', u.attempts - 1,
                u.epoch - 1, u.old_owner, {_EXPIRED_TEXT}, u.n, 1 FROM granted u
            WHERE u.lapsed""",
)

LEASE = text(
    f"""WITH
    {exhausted_cte(_IN_SCOPE)},
    ready AS (
        SELECT t.id, t.priority, t.run_at AS ready_at, false AS lapsed,
            CAST(NULL AS text) AS old_owner, CAST(NULL AS timestamptz) AS old_leased_at
        FROM leaseq_tasks t
        WHERE {_IN_SCOPE} AND t.state = 'pending' AND t.run_at <= {_NOW}
        ORDER BY t.priority DESC, t.run_at, t.id
        LIMIT :limit
        FOR UPDATE OF t SKIP LOCKED),
    lapsed AS (
        SELECT t.id, t.priority, t.lease_expires_at AS ready_at, true AS lapsed,
            t.lease_owner AS old_owner, t.leased_at AS old_leased_at
        FROM leaseq_tasks t
        WHERE {_IN_SCOPE} AND t.state = 'leased' AND t.lease_expires_at <= {_NOW}
          AND t.attempts < t.max_attempts
        ORDER BY t.priority DESC, t.lease_expires_at, t.id
        LIMIT :limit
        FOR UPDATE OF t SKIP LOCKED),
    chosen AS (
        SELECT m.id, m.lapsed, m.old_owner, m.old_leased_at,
            row_number() OVER (ORDER BY m.priority DESC, m.ready_at, m.id) AS n
        FROM (SELECT * FROM ready UNION ALL SELECT * FROM lapsed) m
        ORDER BY m.priority DESC, m.ready_at, m.id
        LIMIT :limit),
    {GRANT_CTE},
    {LEASE_EVENTS}
    SELECT g.*, (SELECT count(*) FROM exhausted) AS exhausted FROM granted g ORDER BY g.n"""
)

# A repeated lease request (its answer was lost): the live leases granted to it, as they
# stand (domain repeats.granted_to, in repeats.grant_order). Run before LEASE, only for
# a request marked as a repeat; when it finds nothing, LEASE claims as for a new request.
LEASE_REPEATED = text(
    f"""SELECT t.* FROM leaseq_tasks t
    WHERE {SCOPE} AND t.state = 'leased' AND t.lease_expires_at > {_NOW}
      AND t.lease_owner = :owner AND t.lease_request = :request_id
    ORDER BY t.priority DESC, t.run_at, t.id"""
)

# enqueue: one INSERT for the batch. The unique partial index on (queue, idempotency_key)
# refuses repeats (earlier ones in the same batch too); each input row then finds the
# task that answers it: its own new row, a new row of an earlier repeat, or an old one.
# Only an old row comes back whole: a new task is the spec plus its id and created_at
# (the store builds it with `transitions.new_task`), and a repeat within the batch names
# its original's id, so the payload the caller just sent is not decoded again.
_TASK_COLUMNS = (
    "id",
    "queue",
    "type",
    "type_version",
    "payload",
    "labels",
    "priority",
    "run_at",
    "attempts",
    "max_attempts",
    "retry_base",
    "retry_factor",
    "retry_max",
    "retry_jitter",
    "idempotency_key",
    "state",
    "epoch",
    "lease_owner",
    "lease_token",
    "lease_request",
    "lease_expires_at",
    "last_error",
    "result",
    "created_at",
    "updated_at",
    "finished_at",
    "report_fingerprint",
    "report_state",
    "report_at",
    "report_epoch",
    "report_attempts",
    "report_run_at",
    "report_last_error",
    "concurrency_key",
)


def _only(**given: str) -> str:
    """The task columns, each `given` expression or NULL. The old rows' arm comes first in
    the UNION, so that its column types, not text, are what the NULLs resolve to."""
    return ", ".join(f"{given.get(c, 'NULL')} AS {c}" for c in _TASK_COLUMNS)


# The input columns: (column, SQL type). Each travels as an array, one element per spec
# (`each_<column>`), or, when every spec of the batch has the same value, as that one
# value (`all_<column>`; the array is then NULL). A batch mostly varies in its ids and
# payloads only, and an array element costs the driver far more than one bound value.
ENQUEUE_INPUT = (
    ("id", "uuid"),
    ("payload", "json"),  # one JSON array, split by json_array_elements
    ("queue", "text"),
    ("type", "text"),
    ("type_version", "int"),
    ("labels", "text"),
    ("priority", "int"),
    ("run_at", "timestamptz"),
    ("delay_us", "bigint"),  # when run_at is NULL: ready at now() + delay (ADR 0003)
    ("max_attempts", "int"),
    ("retry_base", "double precision"),
    ("retry_factor", "double precision"),
    ("retry_max", "double precision"),
    ("retry_jitter", "double precision"),
    ("idempotency_key", "text"),
    ("concurrency_key", "text"),
)
# The payloads travel as one JSON array (validation.check_specs_array), split here: a json
# value's elements keep their text exactly.
_ROWS = ", ".join(
    "json_array_elements(CAST(:payloads AS json))"
    if c == "payload"
    else f"unnest(CAST(:each_{c} AS {t}[]))"
    for c, t in ENQUEUE_INPUT
)
_INPUT = ", ".join(f"COALESCE(u.{c}, CAST(:all_{c} AS {t})) AS {c}" for c, t in ENQUEUE_INPUT[2:])

_ENQUEUE_INPUT = f"""input AS (
        SELECT u.id, u.payload, {_INPUT}, u.n
        FROM ROWS FROM ({_ROWS})
            WITH ORDINALITY AS u({", ".join(c for c, _ in ENQUEUE_INPUT)}, n))"""


def _enqueue_ctes(on_conflict: str) -> str:
    """The input, the INSERT (RETURNING what the callers read), and the wake-ups of the
    queues that got a task ready now. No history row: HISTORY derives the `enqueued`
    event from the task row (ADR 0036)."""
    return f"""{_ENQUEUE_INPUT},
    inserted AS (
        INSERT INTO leaseq_tasks (id, queue, type, type_version, payload, labels, priority,
            run_at, attempts, max_attempts, retry_base, retry_factor, retry_max, retry_jitter,
            idempotency_key, state, epoch, created_at, updated_at, concurrency_key)
        SELECT i.id, i.queue, i.type, i.type_version, CAST(i.payload AS json),
            CAST(i.labels AS jsonb), i.priority,
            COALESCE(i.run_at, {_NOW} + COALESCE(i.delay_us, 0) * {_MICROS}), 0, i.max_attempts,
            i.retry_base, i.retry_factor, i.retry_max, i.retry_jitter, i.idempotency_key,
            'pending', 0, {_NOW}, {_NOW}, i.concurrency_key
        FROM input i ORDER BY i.n
        {on_conflict}
        RETURNING id, queue, idempotency_key, run_at, created_at),
    woke AS (
        SELECT pg_notify('{CHANNEL}', q.queue) FROM (
            SELECT DISTINCT s.queue FROM inserted s WHERE s.run_at <= {_NOW}) q)"""


_DEDUPLICATE = "ON CONFLICT (queue, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING"
ENQUEUE = text(
    f"""WITH
    {_enqueue_ctes(_DEDUPLICATE)}
    SELECT i.n, true AS deduplicated, 0 AS woken, {", ".join(f"t.{c}" for c in _TASK_COLUMNS)}
        FROM input i JOIN leaseq_tasks t
        ON t.queue = i.queue AND t.idempotency_key = i.idempotency_key
        WHERE NOT EXISTS (SELECT 1 FROM inserted s WHERE s.id = i.id)
    UNION ALL
    SELECT i.n, false, (SELECT count(*) FROM woke),
        {_only(id="s.id", created_at="s.created_at")}
        FROM input i JOIN inserted s ON s.id = i.id
    UNION ALL
    SELECT i.n, true, 0, {_only(id="s.id")} FROM input i JOIN inserted s
        ON s.queue = i.queue AND s.idempotency_key = i.idempotency_key AND s.id <> i.id"""
)

# A batch of new tasks: every spec becomes a task, and the answer is one row (the tasks'
# created_at), not one per task. Without keys nothing can repeat. With a key per task (what
# the SDK sends, ADR 0021) there is no ON CONFLICT: a repeat is rare, and the unique index
# refuses it with unique_violation, the statement as a whole (the store then sends the
# batch through ENQUEUE, which answers each repeat). An arbiter index would cost every
# task a speculative insertion: a probe of the index and one more WAL record (ADR 0035).
IDEMPOTENCY_INDEX = "leaseq_tasks_idempotency"  # unique (queue, idempotency_key), migration 0001
ENQUEUE_NEW = text(
    f"""WITH
    {_enqueue_ctes("")}
    SELECT {_NOW} AS created_at, (SELECT count(*) FROM woke) AS woken"""
)

# A repeat whose original was committed by a concurrent batch after this one's snapshot.
BY_IDEMPOTENCY_KEY = text(
    "SELECT t.* FROM leaseq_tasks t WHERE t.queue = :queue AND t.idempotency_key = :key"
)

GET = text("SELECT t.* FROM leaseq_tasks t WHERE t.id = :id")

# Operator transitions lock the row first to learn the state they move it from.
_OLD = """old AS (SELECT t.id, t.state, t.lease_owner FROM leaseq_tasks t WHERE t.id = :id
        FOR UPDATE)"""

CANCEL = text(
    f"""WITH
    {_OLD},
    changed AS (
        UPDATE leaseq_tasks t SET state = 'cancelled', result = NULL, finished_at = {_NOW},
            lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = {_NOW}
        FROM old
        WHERE t.id = old.id AND old.state IN ('pending', 'leased')
        RETURNING t.*, old.state AS old_state, old.lease_owner AS old_owner),
    {
        _ordered_events(
            _deferred_leased("changed", worker="u.old_owner", when="u.old_state = 'leased'"),
            '''SELECT u.id, u.updated_at, 'cancelled', u.old_state, 'cancelled', u.attempts,
                u.epoch, CASE WHEN u.old_state = 'leased' THEN u.old_owner END, NULL, 0, 1
            FROM changed u''',
        )
    },
    woke AS (
        SELECT pg_notify('{CHANNEL}', u.queue) FROM changed u
        WHERE u.old_state = 'leased' AND u.queue IN ({_LIMITED}))
    SELECT u.*, (SELECT count(*) FROM woke) AS woken FROM changed u"""
)

REQUEUE = text(
    f"""WITH
    {_OLD},
    changed AS (
        UPDATE leaseq_tasks t SET state = 'pending', attempts = 0, run_at = {_NOW},
            result = NULL, finished_at = NULL,
            lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = {_NOW}
        FROM old
        WHERE t.id = old.id AND old.state IN ('dead', 'cancelled')
        RETURNING t.*, old.state AS old_state),
    {
        _events('''SELECT u.id, u.updated_at, 'requeued', u.old_state, 'pending', u.attempts,
            u.epoch, NULL, NULL FROM changed u''')
    },
    {_WAKE_ROW}
    SELECT u.*, (SELECT count(*) FROM woke) AS woken FROM changed u"""
)

# A task's most recent events, oldest first. The events its row records are derived, not
# stored (ADR 0036): `enqueued` (from created_at; seq 0, before every stored event); while
# leased or once succeeded, its last grant's `leased` (from leased_at) and, once succeeded,
# `completed` (from finished_at and its last lease). Nothing follows a live lease's grant
# but its end, nor success, so these two are the newest. Rows sort by (`seq`, `sub`): a
# derived `leased` event takes the `seq` of its lease's stored `completed` row, when older
# code wrote one, and sorts just before it. A derived event gives way to a stored one of
# its kind and epoch: written before migrations 0006 and 0007, or by a replica still
# running older code during a rolling upgrade.
_LAST_SEQ = 9223372036854775807  # bigint's largest
_STORED_COMPLETED_SEQ = """(SELECT min(s.seq) FROM leaseq_task_events s
                WHERE s.task_id = t.id AND s.transition = 'completed')"""
HISTORY = text(
    f"""SELECT r.* FROM (
        SELECT e.seq, 0 AS sub, {_EVENT_COLUMNS} FROM leaseq_task_events e
        WHERE e.task_id = :id
        UNION ALL
        SELECT d.* FROM leaseq_tasks t CROSS JOIN LATERAL (VALUES
            (CAST(0 AS bigint), -1, t.id, t.created_at, 'enqueued', NULL, 'pending', 0,
                CAST(0 AS bigint), NULL, NULL),
            (COALESCE({_STORED_COMPLETED_SEQ}, {_LAST_SEQ}), -1, t.id, t.leased_at, 'leased',
                'pending', 'leased', t.attempts, t.epoch, t.lease_owner, NULL),
            ({_LAST_SEQ}, 0, t.id, t.finished_at, 'completed', 'leased', 'succeeded', t.attempts,
                t.epoch, t.lease_owner, NULL)
        ) AS d(seq, sub, {_EVENT_COLUMNS})
        WHERE t.id = :id
          AND CASE d.transition
            WHEN 'enqueued' THEN true
            WHEN 'leased' THEN t.state IN ('leased', 'succeeded') AND t.leased_at IS NOT NULL
            ELSE t.state = 'succeeded' END
          AND NOT EXISTS (
            SELECT 1 FROM leaseq_task_events s
            WHERE s.task_id = :id AND s.transition = d.transition AND s.epoch = d.epoch)
        ORDER BY 1 DESC, 2 DESC LIMIT :limit) r
    ORDER BY r.seq, r.sub"""
)


@functools.cache
def list_tasks(queue: bool, state: bool, type: bool, after: bool) -> TextClause:
    """The task list with only the filters given: one statement per combination, so each
    runs on a generic plan that fits it (ADR 0034). One statement with `:x IS NULL OR …`
    for every filter cannot drop the unused ones from a generic plan: at 300,000 tasks a
    page by state after a cursor took 25 ms on it, 2 ms here."""
    conditions = [
        condition
        for given, condition in (
            (queue, "t.queue = :queue"),
            (state, "t.state = :state"),
            (type, "t.type = :type"),
            (after, "t.id > CAST(:after AS uuid)"),
        )
        if given
    ]
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    return text(f"SELECT t.* FROM leaseq_tasks t {where} ORDER BY t.id LIMIT :limit")


# Counts per state; ready/scheduled/oldest come from the pending partial index.
STATS = text(
    f"""    SELECT t.queue,
        count(*) FILTER (WHERE t.state = 'pending') AS pending,
        count(*) FILTER (WHERE t.state = 'leased') AS leased,
        count(*) FILTER (WHERE t.state = 'succeeded') AS succeeded,
        count(*) FILTER (WHERE t.state = 'dead') AS dead,
        count(*) FILTER (WHERE t.state = 'cancelled') AS cancelled,
        count(*) FILTER (WHERE t.state = 'pending' AND t.run_at <= {_NOW}) AS ready,
        count(*) FILTER (WHERE t.state = 'pending' AND t.run_at > {_NOW}) AS scheduled,
        min(t.run_at) FILTER (WHERE t.state = 'pending' AND t.run_at <= {_NOW}) AS oldest_ready,
        count(*) FILTER (WHERE t.state = 'succeeded' AND t.finished_at > {_NOW} - {_MINUTE})
            AS succeeded_last_minute,
        count(*) FILTER (WHERE t.state = 'dead' AND t.finished_at > {_NOW} - {_MINUTE})
            AS dead_last_minute,
        count(*) FILTER (WHERE t.state = 'leased' AND t.lease_expires_at > {_NOW})
            AS live_leases,
        {_NOW} AS judged_at
    FROM leaseq_tasks t
    WHERE CAST(:queue AS text) IS NULL OR t.queue = :queue
    GROUP BY t.queue
    ORDER BY t.queue COLLATE "C"  -- by code point on any database, as the memory store
    """
)

# The expiry sweep, in bounded batches; SKIP LOCKED lets every replica run it at once.
EXPIRE_DUE = text(
    f"""WITH
    due AS (
        SELECT t.id FROM leaseq_tasks t
        WHERE t.state = 'leased' AND t.lease_expires_at <= {_NOW}
        ORDER BY t.lease_expires_at, t.id LIMIT :limit
        FOR UPDATE OF t SKIP LOCKED),
    changed AS (
        UPDATE leaseq_tasks t SET
            state = CASE WHEN t.attempts >= t.max_attempts THEN 'dead' ELSE 'pending' END,
            run_at = CASE WHEN t.attempts >= t.max_attempts THEN t.run_at
                ELSE t.lease_expires_at END,
            finished_at = CASE WHEN t.attempts >= t.max_attempts THEN {_NOW}
                ELSE t.finished_at END,
            last_error = :expired_error, updated_at = {_NOW}
        FROM due WHERE t.id = due.id
        RETURNING t.id, t.queue, t.state, t.run_at, t.updated_at, t.attempts, t.epoch,
            t.lease_owner, t.leased_at),
    {
        _ordered_events(
            _deferred_leased("changed"),
            f'''SELECT u.id, u.updated_at,
                CASE WHEN u.state = 'dead' THEN 'dead_lettered' ELSE 'expired' END, 'leased',
                u.state, u.attempts, u.epoch, u.lease_owner, {_EXPIRED_TEXT}, 0, 1
            FROM changed u''',
        )
    },
    woke AS (
        SELECT pg_notify('{CHANNEL}', q.queue) FROM (
            SELECT DISTINCT u.queue FROM changed u WHERE u.state = 'pending') q)
    SELECT (SELECT count(*) FROM changed) AS moved, (SELECT count(*) FROM woke) AS woken"""
)

PRUNE = text(
    f"""WITH doomed AS (
        SELECT t.id FROM leaseq_tasks t
        WHERE t.finished_at IS NOT NULL
          AND t.finished_at < {_NOW} - CAST(:retention_us AS bigint) * {_MICROS}
          AND t.state IN ('succeeded', 'dead', 'cancelled')
        ORDER BY t.finished_at, t.id LIMIT :limit
        FOR UPDATE SKIP LOCKED),
    gone AS (DELETE FROM leaseq_tasks t USING doomed WHERE t.id = doomed.id RETURNING t.id),
    forgotten AS (DELETE FROM leaseq_task_events e USING gone WHERE e.task_id = gone.id)
    SELECT count(*) AS deleted FROM gone"""
)

EXPIRED = EXPIRED_ERROR
