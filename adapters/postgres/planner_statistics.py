"""Planner statistics brought up to date when a table outgrew them (ADR 0034).

The store's statements run on generic plans, made from what PostgreSQL's statistics say
of each table. Statistics that say a table is empty outlive its emptiness: a table that
VACUUM found empty counts 0 rows per page until its next ANALYZE, which autovacuum runs a
minute or more after a burst. A plan made from that belief reads the whole table on every
lease (0.3 s a lease at 100,000 tasks) and is made again only from the same belief.

So the service's maintenance asks, every few seconds, whether a table holds many more
live rows than its statistics say (`pg_stat_user_tables.n_live_tup`, kept up by every
insert, against `pg_class.reltuples`), and analyzes those that do. ANALYZE invalidates
every connection's plans of the table: they are made again from the truth. A table at
its usual size is never analyzed here; that stays autovacuum's work.
"""

from __future__ import annotations

import logging

import asyncpg
from sqlalchemy import text

from leaseq.adapters.postgres.statements import StatementRunner

log = logging.getLogger(__name__)

# The tables the hot statements plan around (tasks, their history, a limited queue's keys).
TABLES = ("leaseq_tasks", "leaseq_task_events", "leaseq_queue_keys")
# Analyzed when its live rows reach this many and FACTOR times what its statistics say:
# below that a plan that scans costs a lease a few milliseconds at most.
FLOOR = 1000
FACTOR = 2.0
# One replica analyzes at a time; the others find fresh statistics on their next look.
ANALYZE_LOCK = 0x6C65617365710002  # "leaseq" + 2 (the migrations hold + 1)

# reltuples is -1 for a table never vacuumed nor analyzed (then only FLOOR counts).
# ANALYZE needs the table owner's rights; a role without them skips the table here
# rather than leaving a warning in PostgreSQL's log every few seconds.
OUTGROWN = text("""
    SELECT c.relname AS name
    FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid
    WHERE c.relname = ANY(CAST(:tables AS text[])) AND pg_table_is_visible(c.oid)
      AND s.n_live_tup >= GREATEST(CAST(:floor AS bigint), :factor * c.reltuples)
      AND pg_has_role(c.relowner, 'USAGE')
    ORDER BY c.relname""")
TRY_LOCK = text("""
    SELECT set_config('lock_timeout', '1s', true) AS lock_timeout,
           pg_try_advisory_xact_lock(CAST(:key AS bigint)) AS locked""")


async def analyze_outgrown(runner: StatementRunner) -> list[str]:
    """ANALYZE each of TABLES that outgrew its statistics; the names analyzed."""
    found = await runner.rows(OUTGROWN, {"tables": list(TABLES), "floor": FLOOR, "factor": FACTOR})
    names = [str(row["name"]) for row in found]
    if not names:
        return []
    try:
        async with runner.transaction() as tx:
            [lock] = await tx.rows(TRY_LOCK, {"key": ANALYZE_LOCK})
            if not lock["locked"]:
                return []  # another replica is at it
            for name in names:  # (names from TABLES only: safe to write into the text)
                await tx.rows(text(f'ANALYZE "{name}"'), {})
    except asyncpg.LockNotAvailableError:
        # autovacuum holds the table (its own VACUUM or ANALYZE): it is being seen to
        log.debug("planner statistics: %s busy; trying again later", ", ".join(names))
        return []
    return names


__all__ = ["FACTOR", "FLOOR", "TABLES", "analyze_outgrown"]
