"""PostgreSQL only: the `enqueued` event is derived from the task row, not written (ADR 0036).

The store contract (test_store_history.py) checks what the history shows on every store;
these check how PostgreSQL holds it: no enqueue path writes an event row, and an
`enqueued` row stored before migration 0006 is read instead of the derived one, not beside it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest

from leaseq.adapters.postgres import PostgresTaskStore, open_postgres_store
from leaseq.domain import TaskSpec, TaskState, Transition
from leaseq.ports import LeaseRequest

pytestmark = pytest.mark.postgres

LEASE = timedelta(seconds=30)


@pytest.fixture
async def store(pg_migrated_url: str) -> AsyncIterator[PostgresTaskStore]:
    opened = await open_postgres_store(pg_migrated_url, pool_size=2)
    yield opened
    await opened.close()


@pytest.fixture
async def conn(pg_migrated_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(pg_migrated_url)
    try:
        yield connection
    finally:
        await connection.close()


async def test_no_enqueue_path_writes_an_event_row(
    store: PostgresTaskStore, conn: asyncpg.Connection
) -> None:
    spec = TaskSpec(queue="q", type="t", payload={"n": 0})
    ids = [e.task_id for e in await store.enqueue([spec, spec])]  # a batch without keys
    ids += (await store.enqueue_each(spec, [1, 2])).ids
    ids += [e.task_id for e in await store.enqueue_keyed(spec, [3, 4], ["k3", "k4"])]
    # a repeat sends the batch through the deduplicating statement
    repeated = await store.enqueue_keyed(spec, [4, 5], ["k4", "k5"])
    assert [e.deduplicated for e in repeated] == [True, False]
    ids.append(repeated[1].task_id)
    ids.append(await conn.fetchval("SELECT leaseq_enqueue('q', 't', '{}')"))  # in SQL
    assert len(set(ids)) == 8

    assert await conn.fetchval("SELECT count(*) FROM leaseq_task_events") == 0
    for task_id in ids:
        [event] = await store.history(task_id)
        created = await conn.fetchval("SELECT created_at FROM leaseq_tasks WHERE id = $1", task_id)
        assert (event.task_id, event.transition, event.at) == (task_id, "enqueued", created)


async def test_an_enqueued_row_stored_before_0006_is_read_once(
    store: PostgresTaskStore, conn: asyncpg.Connection
) -> None:
    [enqueued] = await store.enqueue([TaskSpec(queue="q", type="t")])
    task = enqueued.task
    stored_at = task.created_at - timedelta(seconds=1)  # tells the stored row apart
    await conn.execute(
        "INSERT INTO leaseq_task_events (task_id, at, transition, from_state, to_state,"
        " attempt, epoch) VALUES ($1, $2, 'enqueued', NULL, 'pending', 0, 0)",
        task.id,
        stored_at,
    )
    await store.lease(LeaseRequest("q", "w", 1, LEASE))

    events = await store.history(task.id)

    assert [(e.transition, e.at) for e in events[:1]] == [(Transition.ENQUEUED, stored_at)]
    assert [e.transition for e in events] == [Transition.ENQUEUED, Transition.LEASED]
    assert events[-1].to_state is TaskState.LEASED


async def test_the_derived_event_counts_against_the_limit_as_the_oldest(
    store: PostgresTaskStore, conn: asyncpg.Connection
) -> None:
    [enqueued] = await store.enqueue([TaskSpec(queue="q", type="t")])
    [task] = await store.lease(LeaseRequest("q", "w", 1, LEASE))
    assert task.lease is not None
    await store.release(task.id, task.lease.token)

    assert [e.transition for e in await store.history(enqueued.task.id, limit=2)] == [
        Transition.LEASED,
        Transition.RELEASED,
    ]
    assert [e.transition for e in await store.history(enqueued.task.id, limit=3)] == [
        Transition.ENQUEUED,
        Transition.LEASED,
        Transition.RELEASED,
    ]
    assert await conn.fetchval("SELECT count(*) FROM leaseq_task_events") == 2
