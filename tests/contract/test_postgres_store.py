"""PostgreSQL only: exact JSON round trips, concurrent claimers, connections killed mid-call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from uuid import UUID

import asyncpg
import pytest
from sqlalchemy import text

from leaseq.adapters.postgres import PostgresTaskStore, open_postgres_store, planner_statistics
from leaseq.adapters.postgres import queries as q
from leaseq.adapters.postgres.statements import Positional, open_runner
from leaseq.app.maintenance import Maintenance, MaintenancePlan
from leaseq.domain import QueueLimits, TaskSpec
from leaseq.ports import LeaseRequest, StoreUnavailable

LEASE = timedelta(seconds=30)


@pytest.fixture
async def store(pg_migrated_url: str) -> AsyncIterator[PostgresTaskStore]:
    opened = await open_postgres_store(pg_migrated_url, pool_size=2)
    yield opened
    await opened.close()


def _nested(depth: int) -> object:
    """`depth` containers deep (the validation limit is 64), alternating object and array."""
    value: object = "bottom"
    for level in range(depth):
        value = {"level": level, "next": value} if level % 2 else [value, level]
    return value


PAYLOADS = {
    "unicode": {"text": "Grüße, 東京, שלום, 🚀\u200d👩‍💻", "escapes": 'quote " slash \\ tab \t'},
    "key order": {"z": 1, "a": 2, "m": {"b": 1, "a": 2}},
    "numbers": {
        "big": 2**63 - 1,
        "tiny": 1e-300,
        "huge": 1e300,
        "neg": -0.5,
        "pi": 3.141592653589793,
    },
    "deep": _nested(64),
    "large": {"blob": "x" * (1024 * 1024 - 100)},
    "scalar": "just a string",
    "backslash u": "C:\\u0000dir",
}


@pytest.mark.parametrize("name", PAYLOADS)
async def test_payloads_results_and_labels_round_trip_exactly(
    store: PostgresTaskStore, name: str
) -> None:
    payload = PAYLOADS[name]
    labels = {"traceparent": "00-abc-def-01", "naïve ✓": "värde 🚀"}
    [answer] = await store.enqueue([TaskSpec(queue="q", type="t", payload=payload, labels=labels)])
    [task] = await store.lease(LeaseRequest("q", "w", 1, LEASE))
    assert task.lease is not None
    done = await store.complete(task.id, task.lease.token, result=payload)

    stored = await store.get(answer.task.id)
    assert stored.payload == payload and stored.result == payload and stored.labels == labels
    assert repr(stored.payload) == repr(payload), "key order or number form changed"
    assert done.result == payload


async def test_concurrent_claimers_never_share_a_task(pg_migrated_url: str) -> None:
    stores = [await open_postgres_store(pg_migrated_url, pool_size=2) for _ in range(4)]
    try:
        specs = [TaskSpec(queue="race", type="t", payload={"n": n}) for n in range(500)]
        enqueued = []
        for start in range(0, len(specs), 100):
            enqueued += await stores[0].enqueue(specs[start : start + 100])
        start_line = asyncio.Event()

        async def claim_all(store: PostgresTaskStore) -> list[UUID]:
            await start_line.wait()
            mine: list[UUID] = []
            while granted := await store.lease(LeaseRequest("race", "w", 7, LEASE)):
                mine += [task.id for task in granted]
            return mine

        runs = [asyncio.create_task(claim_all(s)) for s in stores for _ in range(2)]
        start_line.set()
        claimed = [task_id for run in await asyncio.gather(*runs) for task_id in run]
    finally:
        for s in stores:
            await s.close()

    assert len(claimed) == len(set(claimed)), "a task was granted twice"
    assert set(claimed) == {e.task.id for e in enqueued}


async def test_a_connection_killed_mid_statement_writes_nothing_and_reports_unavailable(
    pg_migrated_url: str, store: PostgresTaskStore
) -> None:
    blocker = await asyncpg.connect(pg_migrated_url)
    try:
        blocking = blocker.transaction()
        await blocking.start()
        await blocker.execute("LOCK TABLE leaseq_tasks IN EXCLUSIVE MODE")
        specs = [TaskSpec(queue="q", type="t", payload={"n": n}) for n in range(50)]
        enqueue = asyncio.create_task(store.enqueue(specs))
        pid = await _waiting_backend(blocker)
        await blocker.execute("SELECT pg_terminate_backend($1)", pid)
        with pytest.raises(StoreUnavailable):
            await enqueue
        await blocking.rollback()
        assert await blocker.fetchval("SELECT count(*) FROM leaseq_tasks") == 0
    finally:
        await blocker.close()

    [after] = await store.enqueue([TaskSpec(queue="q", type="t")])  # the pool recovered
    assert (await store.get(after.task.id)).id == after.task.id


async def _waiting_backend(conn: asyncpg.Connection) -> int:
    """The pid of the store's backend once it waits for our lock."""
    query = """SELECT pid FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = 'leaseq'
          AND wait_event_type = 'Lock'"""
    async with asyncio.timeout(10):
        while (pid := await conn.fetchval(query)) is None:  # noqa: ASYNC110
            await asyncio.sleep(0.02)  # the server's own view: no event to wait on
    return int(pid)


async def test_pool_status_counts_the_connections_a_call_holds(store: PostgresTaskStore) -> None:
    await store.stats()
    idle_out, size = store.pool_status()
    gate = asyncio.Event()

    async def hold() -> tuple[int, int]:
        async with store._runner._pool.acquire():  # a connection busy elsewhere
            gate.set()
            await asyncio.sleep(0.2)
            return store.pool_status()

    held = asyncio.create_task(hold())
    await gate.wait()
    busy_out, _ = store.pool_status()
    await held
    assert idle_out == 0 and 1 <= size <= 2  # the pool opens connections as calls need them
    assert busy_out == 1


async def test_a_statement_costs_one_round_trip_no_reset_query_on_release(
    store: PostgresTaskStore, pg_migrated_url: str
) -> None:
    # asyncpg's default release runs a reset query (RESET ALL, UNLISTEN *, ...) on every
    # connection put back, one more round trip per call; the pool's connections hold no
    # session state, so the store's last query is what the server saw last.
    await store.stats()
    probe = await asyncpg.connect(pg_migrated_url)
    try:
        seen = await probe.fetch(
            "SELECT query FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = 'leaseq' AND state = 'idle'"
        )
    finally:
        await probe.close()
    assert seen, "the store's connection is idle in the pool"
    assert all("RESET ALL" not in row["query"] for row in seen), seen


async def test_a_fresh_pooled_connection_sees_tasks_made_ready_after_it_opened(
    pg_migrated_url: str,
) -> None:
    # Each pooled connection prepares the hot statements as it opens; asyncpg's prepare
    # leaves its implicit transaction open (Flush, not Sync): once, the first lease ran
    # with now() from the opening and found a task enqueued just after it not ready.
    claimer = await open_postgres_store(pg_migrated_url, pool_size=1)
    producer = await open_postgres_store(pg_migrated_url, pool_size=1)
    try:
        await asyncio.sleep(0.05)  # the claimer's connection is open and idle
        [answer] = await producer.enqueue([TaskSpec(queue="q", type="t", payload=None)])
        granted = await claimer.lease(LeaseRequest("q", "w", 1, LEASE))
        assert [task.id for task in granted] == [answer.task.id]
    finally:
        await producer.close()
        await claimer.close()


def _lease_statement_params(limit: int) -> dict[str, object]:
    """The parameters of queries.LEASE for `limit` tasks of queue "q", any type."""
    return {
        "now": None,
        "queue": "q",
        "types": None,
        "versions": None,
        "limit": limit,
        "owner": "w",
        "tokens": [f"t{n}" for n in range(limit)],
        "lease_us": 30_000_000,
        "request_id": None,
        "expired_error": q.EXPIRED,
    }


async def test_the_lease_statement_runs_on_its_generic_plan(pg_migrated_url: str) -> None:
    # ADR 0034: in PostgreSQL's default plan cache mode the lease statement was planned
    # anew on every call (its generic plan's estimate never won), half its server time.
    runner = await open_runner(pg_migrated_url, pool_size=1)  # one connection: ours
    params = _lease_statement_params(1)
    try:
        for _ in range(8):  # past the five custom plans the default mode tries first
            await runner.rows(q.LEASE, params)
        [plans] = await runner.rows(
            text(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                " WHERE statement = :sql"
            ),
            {"sql": Positional(q.LEASE).sql},
        )
    finally:
        await runner.close()
    assert (plans["generic_plans"], plans["custom_plans"]) == (8, 0)


async def _rows_a_late_lease_reads(
    store: PostgresTaskStore, url: str, tasks: int, *, plan_lifetime: float, later: float = 0.0
) -> int:
    """Rows of leaseq_tasks one lease of 10 reads: on a connection whose generic plan of
    LEASE was made on empty tables (vacuumed: statistics say so), after `tasks` tasks
    arrived and `later` seconds passed (ADR 0034: statements run on generic plans)."""
    setup = await asyncpg.connect(url)
    runner = await open_runner(url, pool_size=1, plan_lifetime=plan_lifetime)
    params = _lease_statement_params(10)
    try:
        # no ANALYZE while the test runs: it would make the plan again, from the new rows
        await setup.execute("ALTER TABLE leaseq_tasks SET (autovacuum_enabled = false)")
        await setup.execute("VACUUM ANALYZE leaseq_tasks")  # drained: statistics say empty
        assert await runner.rows(q.LEASE, params) == []  # the generic plan is made now
        for start in range(0, tasks, 100):
            await store.enqueue(
                [TaskSpec(queue="q", type="t", payload=i) for i in range(start, start + 100)]
            )
        await asyncio.sleep(later)
        async with runner.transaction() as tx:
            granted = await tx.rows(q.LEASE, params)
            [read] = await tx.rows(
                text(
                    "SELECT seq_tup_read + COALESCE(idx_tup_fetch, 0) AS n"
                    " FROM pg_stat_xact_user_tables WHERE relname = 'leaseq_tasks'"
                ),
                {},
            )
    finally:
        await runner.close()
        await setup.close()
    assert len(granted) == 10
    return int(read["n"])


async def test_a_lease_on_a_plan_made_for_empty_tables_reads_each_task_a_bounded_number_of_times(
    store: PostgresTaskStore, pg_migrated_url: str
) -> None:
    """Such a plan may scan the table, but never once per task: the lease's dead-letter
    step once did (an `IN (SELECT … FOR UPDATE)` run per row), and a lease then read n²
    rows (15 s at 10,000 tasks) until autovacuum's next ANALYZE."""
    read = await _rows_a_late_lease_reads(store, pg_migrated_url, 300, plan_lifetime=300.0)
    assert read <= 10 * 300, f"the lease read {read} rows of 300 tasks"


async def test_a_plan_made_for_empty_tables_is_made_again_after_its_lifetime(
    store: PostgresTaskStore, pg_migrated_url: str
) -> None:
    """A generic plan is made again `plan_lifetime` seconds after it was made: then the
    lease finds its tasks through the ready index, not by reading every task."""
    read = await _rows_a_late_lease_reads(store, pg_migrated_url, 300, plan_lifetime=0.5, later=0.7)
    assert read <= 60, f"the lease read {read} rows of 300 tasks"


async def test_a_limited_queue_on_plans_made_for_empty_tables_reads_its_keys_through_the_index(
    pg_migrated_url: str,
) -> None:
    """The limited path probes the keyed index once per concurrency key (ADR 0030). Its
    transaction turns sequential scans off, so plans made on empty tables still probe:
    with a scan per probe, a lease read keys x tasks rows (8 s at 10,000 tasks in 1,000
    keys)."""
    tasks, keys = 600, 60
    setup = await asyncpg.connect(pg_migrated_url)
    runner = await open_runner(pg_migrated_url, pool_size=1, plan_lifetime=300.0)
    store = PostgresTaskStore(runner)  # its one connection is the one counted below
    read = text(
        "SELECT seq_tup_read + COALESCE(idx_tup_fetch, 0) AS n"
        " FROM pg_stat_user_tables WHERE relname = 'leaseq_tasks'"
    )
    flush = text("SELECT pg_stat_force_next_flush()")  # this backend's counts, when idle
    try:
        for table in ("leaseq_tasks", "leaseq_queue_keys"):  # no ANALYZE during the test
            await setup.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        await setup.execute("VACUUM ANALYZE")  # statistics say empty
        await store.set_limits("q", QueueLimits(None, 2, None))
        request = LeaseRequest("q", "w", 10, timedelta(seconds=30))
        assert await store.lease(request) == []  # the plans are made now
        await store.enqueue(
            [TaskSpec(queue="q", type="t", payload=i, concurrency_key=f"k{i % keys}")
             for i in range(tasks)]
        )  # fmt: skip
        await runner.rows(flush, {})
        [before] = await runner.rows(read, {})
        assert len(await store.lease(request)) == 10
        await runner.rows(flush, {})
        [after] = await runner.rows(read, {})
    finally:
        await store.close()
        await setup.close()
    rows = after["n"] - before["n"]
    assert rows <= 10 * tasks, f"a lease read {rows} rows of {tasks} tasks in {keys} keys"


_FLUSH = text("SELECT pg_stat_force_next_flush()")  # this backend's counts, when idle
_ANALYZED = text("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'leaseq_tasks'")


async def test_a_burst_into_a_table_vacuum_found_empty_is_analyzed_and_leases_stop_scanning(
    pg_migrated_url: str,
) -> None:
    """VACUUM left the emptied table's pages (a busy table's usually stay) and recorded 0
    rows: until the next ANALYZE every plan, made again or not, believes it empty and a
    lease reads the whole table (0.25 s at 100,000 tasks). The store's maintenance extra
    analyzes a table that outgrew its statistics; the plans are then made from the truth."""
    tasks = 3000
    setup = await asyncpg.connect(pg_migrated_url)
    runner = await open_runner(pg_migrated_url, pool_size=1, plan_lifetime=0.1)
    store = PostgresTaskStore(runner)  # one connection: its counts are flushed below
    params = _lease_statement_params(10)
    read = text(
        "SELECT seq_tup_read + COALESCE(idx_tup_fetch, 0) AS n"
        " FROM pg_stat_xact_user_tables WHERE relname = 'leaseq_tasks'"
    )

    async def rows_a_lease_reads() -> int:
        await asyncio.sleep(0.2)  # past the plan's lifetime: it is made again, to no avail
        await runner.rows(_FLUSH, {})  # the transaction's counts start from 0
        async with runner.transaction() as tx:
            assert len(await tx.rows(q.LEASE, params)) == 10
            [counted] = await tx.rows(read, {})
            return int(counted["n"])

    async def burst(queue: str, tasks: int) -> None:
        for start in range(0, tasks, 1000):
            await store.enqueue(
                [TaskSpec(queue=queue, type="t", payload=i) for i in range(start, start + 1000)]
            )

    try:
        await setup.execute("ALTER TABLE leaseq_tasks SET (autovacuum_enabled = false)")
        await burst("old", 1000)
        await setup.execute("DELETE FROM leaseq_tasks")
        await setup.execute("VACUUM (TRUNCATE false) leaseq_tasks")  # pages kept, 0 rows
        await burst("q", tasks)
        await runner.rows(_FLUSH, {})  # n_live_tup counts the burst
        scanning = await rows_a_lease_reads()
        [before] = await runner.rows(_ANALYZED, {})
        assert "leaseq_tasks" in await store.refresh_planner_statistics()
        after = await rows_a_lease_reads()
        assert await store.refresh_planner_statistics() == []  # up to date: left alone
        [analyzed] = await runner.rows(_ANALYZED, {})
    finally:
        await store.close()
        await setup.close()
    assert scanning >= tasks, f"the stale plan read only {scanning} rows of {tasks} tasks"
    assert after <= 60, f"after ANALYZE a lease still read {after} rows of {tasks} tasks"
    assert analyzed["analyze_count"] == before["analyze_count"] + 1


async def test_a_table_at_its_usual_size_is_never_analyzed_by_the_store(
    pg_migrated_url: str,
) -> None:
    """Below the floor, or within twice what ANALYZE last counted, the store leaves a table
    to autovacuum: no ANALYZE every few seconds on a busy queue."""
    runner = await open_runner(pg_migrated_url, pool_size=1)
    store = PostgresTaskStore(runner)
    specs = [TaskSpec(queue="q", type="t", payload=i) for i in range(500)]
    try:
        await store.enqueue(specs)  # 500 of a floor of 1,000
        await runner.rows(_FLUSH, {})
        below_floor = await store.refresh_planner_statistics()
        await store.enqueue(specs + specs)  # 1,500: past the floor, never counted
        await runner.rows(_FLUSH, {})
        first = await store.refresh_planner_statistics()
        await store.enqueue(specs)  # 2,000 against 1,500 counted
        await runner.rows(_FLUSH, {})
        within = await store.refresh_planner_statistics()
    finally:
        await store.close()
    # (an enqueue writes no history row, ADR 0036: the events table stays empty)
    assert (below_floor, first, within) == ([], ["leaseq_tasks"], [])


async def test_maintenance_analyzes_a_burst_on_its_own(pg_migrated_url: str) -> None:
    """The service's maintenance runs the store's extra every `planner_interval`."""
    store = await open_postgres_store(pg_migrated_url, pool_size=2)
    maintenance = Maintenance(store, MaintenancePlan(planner_interval=0.1, expiry_interval=60))
    setup = await asyncpg.connect(pg_migrated_url)
    try:
        maintenance.start()
        await store.enqueue(
            [TaskSpec(queue="q", type="t", payload=i) for i in range(planner_statistics.FLOOR)]
        )
        # A backend's counts reach the statistics view at most once a second, an idle one's
        # up to 10 s after its last commit (PostgreSQL's PGSTAT_IDLE_INTERVAL).
        deadline = asyncio.get_running_loop().time() + 30
        while not await setup.fetchval(_ANALYZED.text):
            assert asyncio.get_running_loop().time() < deadline, "no ANALYZE after the burst"
            await asyncio.sleep(0.1)
    finally:
        await maintenance.stop()
        await store.close()
        await setup.close()


async def test_a_keyed_batch_racing_an_uncommitted_repeat_waits_and_answers_it_deduplicated(
    store: PostgresTaskStore, pg_migrated_url: str
) -> None:
    """The SDK's keyed batch is one INSERT without ON CONFLICT (ADR 0035): a key held by a
    transaction in flight makes it wait, and once that commits the batch is answered task
    by task, the held key by the committed task, the others new; nothing is made twice."""
    other = await asyncpg.connect(pg_migrated_url)
    try:
        held = other.transaction()
        await held.start()
        first = await other.fetchval(
            "SELECT leaseq_enqueue('q', 't', '1', idempotency_key => 'k1')"
        )
        racing = asyncio.create_task(
            store.enqueue_keyed(TaskSpec(queue="q", type="t"), [1, 2], ["k1", "k2"])
        )
        await asyncio.sleep(0.3)
        assert not racing.done()  # waiting on the key the open transaction holds
        await held.commit()
        answers = await asyncio.wait_for(racing, 10)
        stored = await other.fetchval("SELECT count(*) FROM leaseq_tasks")
    finally:
        await other.close()
    assert [(a.task_id == first, a.deduplicated) for a in answers] == [(True, True), (False, False)]
    assert answers[1].task.idempotency_key == "k2"
    assert stored == 2
