"""The named SQL statements of flow control (ADR 0030): a limited queue's lease path, its
limits and its live leases. The same conventions as queries.py.

A limited queue's lease is one transaction of three statements (after INDEXES_ONLY):
FLOW_LOCK locks the queue's settings row (only that queue's grants wait for each other),
FLOW_CANDIDATES reads, in a snapshot taken after the lock, what
`leaseq.domain.limits.plan_flow` needs, and FLOW_GRANT applies the plan the store made
with it.
"""

from __future__ import annotations

from sqlalchemy import text

from leaseq.adapters.postgres.queries import (
    CHANNEL,
    GRANT_CTE,
    LEASE_EVENTS,
    SCOPE,
    exhausted_cte,
)

_NOW = "COALESCE(CAST(:now AS timestamptz), now())"

# Whether the queue's grants go the limited path (asked only when LEASE granted nothing).
QUEUE_LIMITED = text("SELECT q.limited FROM leaseq_queues q WHERE q.queue = :queue")

# The limited path's statements are written for index access: the keyed index's skip
# scan, one probe per key. Its transaction runs them with sequential scans off, so their
# generic plans (made on a connection's first use, or again after PLAN_LIFETIME) are
# made that way too: a plan made while the table looked empty turned each probe into a
# scan of the whole table (keys x tasks rows; 8 s a lease at 10,000 tasks in 1,000 keys).
INDEXES_ONLY = text("SET LOCAL enable_seqscan = off")

FLOW_LOCK = text(
    f"SELECT q.*, {_NOW} AS judged_at FROM leaseq_queues q WHERE q.queue = :queue FOR UPDATE"
)

# Per concurrency key (the unkeyed tasks as one group), its first :limit claimable tasks
# in claim order: no later one could be granted (plan_flow's docstring). The keys with a
# pending task are found by a skip scan of leaseq_tasks_keyed, one index probe per key;
# each key's ready tasks come from the same index. Expired leases are few: one window.
# Then the live leases per key and each key's latest grant number. `kind` tells them apart.
FLOW_CANDIDATES = text(
    f"""WITH RECURSIVE
    keys(k) AS (
        (SELECT t.concurrency_key FROM leaseq_tasks t
         WHERE t.queue = :queue AND t.state = 'pending' AND t.concurrency_key IS NOT NULL
         ORDER BY t.concurrency_key LIMIT 1)
        UNION ALL
        SELECT (SELECT t.concurrency_key FROM leaseq_tasks t
                WHERE t.queue = :queue AND t.state = 'pending' AND t.concurrency_key > keys.k
                ORDER BY t.concurrency_key LIMIT 1)
        FROM keys WHERE keys.k IS NOT NULL),
    keyed AS (
        SELECT r.* FROM keys CROSS JOIN LATERAL (
            SELECT t.id, t.priority, t.run_at AS ready_at, t.concurrency_key AS key
            FROM leaseq_tasks t
            WHERE {SCOPE} AND t.state = 'pending' AND t.concurrency_key = keys.k
              AND t.run_at <= {_NOW}
            ORDER BY t.priority DESC, t.run_at, t.id LIMIT :limit) r
        WHERE keys.k IS NOT NULL),
    unkeyed AS (
        SELECT t.id, t.priority, t.run_at AS ready_at, t.concurrency_key AS key
        FROM leaseq_tasks t
        WHERE {SCOPE} AND t.state = 'pending' AND t.concurrency_key IS NULL
          AND t.run_at <= {_NOW}
        ORDER BY t.priority DESC, t.run_at, t.id LIMIT :limit),
    lapsed AS (
        SELECT x.id, x.priority, x.ready_at, x.key FROM (
            SELECT t.id, t.priority, t.lease_expires_at AS ready_at, t.concurrency_key AS key,
                row_number() OVER (PARTITION BY t.concurrency_key
                    ORDER BY t.priority DESC, t.lease_expires_at, t.id) AS n
            FROM leaseq_tasks t
            WHERE {SCOPE} AND t.state = 'leased' AND t.lease_expires_at <= {_NOW}
              AND t.attempts < t.max_attempts) x
        WHERE x.n <= :limit),
    found AS (
        SELECT * FROM keyed UNION ALL SELECT * FROM unkeyed UNION ALL SELECT * FROM lapsed)
    SELECT 'candidate' AS kind, f.id, f.priority, f.ready_at, f.key, CAST(NULL AS bigint) AS n
        FROM found f
    UNION ALL
    SELECT 'live', NULL, NULL, NULL, t.concurrency_key, count(*) FROM leaseq_tasks t
        WHERE t.queue = :queue AND t.state = 'leased' AND t.lease_expires_at > {_NOW}
        GROUP BY t.concurrency_key
    UNION ALL
    SELECT 'turn', NULL, NULL, NULL, k.key, k.last_grant FROM leaseq_queue_keys k
        WHERE k.queue = :queue AND k.key IN (SELECT COALESCE(f.key, '') FROM found f)"""
)

# The plan applied: the chosen tasks (:ids, in grant order) are locked and granted if
# still claimable (a cancel may have come first), the exhausted in scope go dead, and the
# queue's flow state (bucket, grant count, keys' latest grants) is what the plan left.
FLOW_GRANT = text(
    f"""WITH
    {exhausted_cte(SCOPE)},
    picked AS (SELECT p.id, p.n FROM unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS p(id, n)),
    chosen AS (
        SELECT t.id, t.state = 'leased' AS lapsed,
            CASE WHEN t.state = 'leased' THEN t.lease_owner END AS old_owner,
            CASE WHEN t.state = 'leased' THEN t.leased_at END AS old_leased_at, p.n
        FROM leaseq_tasks t JOIN picked p ON p.id = t.id
        WHERE (t.state = 'pending' AND t.run_at <= {_NOW})
           OR (t.state = 'leased' AND t.lease_expires_at <= {_NOW}
               AND t.attempts < t.max_attempts)
        ORDER BY p.n
        FOR UPDATE OF t),
    {GRANT_CTE},
    {LEASE_EVENTS},
    flow AS (
        UPDATE leaseq_queues q SET bucket_tokens = :bucket_tokens, bucket_at = :bucket_at,
            rounds = :rounds
        WHERE q.queue = :queue),
    turns AS (
        INSERT INTO leaseq_queue_keys (queue, key, last_grant)
        SELECT :queue, k.key, k.last_grant
        FROM unnest(CAST(:turn_keys AS text[]), CAST(:turn_grants AS bigint[]))
            AS k(key, last_grant)
        ON CONFLICT (queue, key) DO UPDATE SET last_grant = EXCLUDED.last_grant)
    SELECT g.* FROM granted g ORDER BY g.n"""
)

# Setting limits refills the rate bucket (:bucket_tokens, at now) and wakes the waiters.
SET_LIMITS = text(
    f"""WITH saved AS (
        INSERT INTO leaseq_queues AS q (queue, paused, updated_at, concurrency,
            concurrency_per_key, rate_per_second, bucket_tokens, bucket_at)
        VALUES (:queue, false, {_NOW}, :concurrency, :concurrency_per_key,
            CAST(:rate_per_second AS double precision),
            CAST(:bucket_tokens AS double precision), {_NOW})
        ON CONFLICT (queue) DO UPDATE SET concurrency = EXCLUDED.concurrency,
            concurrency_per_key = EXCLUDED.concurrency_per_key,
            rate_per_second = EXCLUDED.rate_per_second,
            bucket_tokens = EXCLUDED.bucket_tokens, bucket_at = EXCLUDED.bucket_at,
            updated_at = EXCLUDED.updated_at
        RETURNING q.*),
    woke AS (SELECT pg_notify('{CHANNEL}', s.queue) FROM saved s)
    SELECT s.*, (SELECT count(*) FROM woke) AS woken FROM saved s"""
)

LIVE_LEASES = text(
    f"""SELECT t.concurrency_key AS key, count(*) AS n FROM leaseq_tasks t
    WHERE t.queue = :queue AND t.state = 'leased' AND t.lease_expires_at > {_NOW}
    GROUP BY t.concurrency_key"""
)
