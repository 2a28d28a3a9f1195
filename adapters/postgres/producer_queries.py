"""The named SQL statements of queue settings, awaited tasks and schedules (ADRs 0028,
0029); the same conventions as queries.py: bound parameters, `:now` NULL in production."""

from __future__ import annotations

from sqlalchemy import text

from leaseq.adapters.postgres.queries import CHANNEL

_NOW = "COALESCE(CAST(:now AS timestamptz), now())"

# -- queue settings -----------------------------------------------------------------------

# Pausing a paused queue changes nothing (its paused_at stays): no row comes back then.
PAUSE = text(
    f"""INSERT INTO leaseq_queues AS q (queue, paused, paused_at, updated_at)
    VALUES (:queue, true, {_NOW}, {_NOW})
    ON CONFLICT (queue) DO UPDATE SET paused = true, paused_at = EXCLUDED.paused_at,
        updated_at = EXCLUDED.updated_at
    WHERE NOT q.paused
    RETURNING q.*"""
)

# Resuming wakes the queue's lease waiters on every replica.
RESUME = text(
    f"""WITH resumed AS (
        UPDATE leaseq_queues q SET paused = false, paused_at = NULL, updated_at = {_NOW}
        WHERE q.queue = :queue AND q.paused
        RETURNING q.*),
    woke AS (SELECT pg_notify('{CHANNEL}', r.queue) FROM resumed r)
    SELECT r.*, (SELECT count(*) FROM woke) AS woken FROM resumed r"""
)

QUEUE_SETTINGS = text("SELECT q.* FROM leaseq_queues q WHERE q.queue = :queue")

# Names are listed by code point (COLLATE "C") on every database, as the memory store
# sorts them: a production database's collation (en_US.UTF-8: "a" < "B") would not.
ALL_QUEUE_SETTINGS = text('SELECT q.* FROM leaseq_queues q ORDER BY q.queue COLLATE "C"')

# -- awaited tasks ------------------------------------------------------------------------

# Marks an unfinished task as awaited (once: later calls only read), so that the trigger
# of migration 0003 announces its final state; answers the task as it now stands.
WATCH = text(
    """WITH marked AS (
        UPDATE leaseq_tasks t SET awaited = true
        WHERE t.id = :id AND NOT t.awaited AND t.state IN ('pending', 'leased')
        RETURNING t.*)
    SELECT m.* FROM marked m
    UNION ALL
    SELECT t.* FROM leaseq_tasks t WHERE t.id = :id AND NOT EXISTS (SELECT 1 FROM marked)"""
)

# -- schedules ----------------------------------------------------------------------------

CURRENT_TIME = text(f"SELECT {_NOW} AS now")

PUT_SCHEDULE = text(
    f"""INSERT INTO leaseq_schedules AS s (name, cron, timezone, task, revision,
        next_fire_at, created_at, updated_at)
    VALUES (:name, :cron, :timezone, CAST(:task AS json), 1, :next_fire_at, {_NOW}, {_NOW})
    ON CONFLICT (name) DO UPDATE SET cron = EXCLUDED.cron, timezone = EXCLUDED.timezone,
        task = EXCLUDED.task, revision = s.revision + 1, next_fire_at = EXCLUDED.next_fire_at,
        updated_at = EXCLUDED.updated_at
    RETURNING s.*"""
)

GET_SCHEDULE = text("SELECT s.* FROM leaseq_schedules s WHERE s.name = :name")

LIST_SCHEDULES = text('SELECT s.* FROM leaseq_schedules s ORDER BY s.name COLLATE "C"')

DELETE_SCHEDULE = text("DELETE FROM leaseq_schedules s WHERE s.name = :name RETURNING s.*")

# Always one row at least: the instant judged at, with the due schedules (none: NULLs).
DUE_SCHEDULES = text(
    f"""SELECT n.judged_at, s.* FROM (SELECT {_NOW} AS judged_at) n
    LEFT JOIN LATERAL (
        SELECT * FROM leaseq_schedules s WHERE s.next_fire_at <= n.judged_at
        ORDER BY s.next_fire_at, s.name COLLATE "C" LIMIT :limit) s ON true"""
)

# Compare-and-set: of the replicas that fired one fire time, one moves the schedule on.
ADVANCE_SCHEDULE = text(
    f"""UPDATE leaseq_schedules s SET next_fire_at = :following, last_fire_at = :fired_at,
        last_task_id = :task_id, updated_at = {_NOW}
    WHERE s.name = :name AND s.revision = :revision AND s.next_fire_at = :due
    RETURNING s.name"""
)
