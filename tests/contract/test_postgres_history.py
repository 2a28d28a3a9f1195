"""PostgreSQL only: the `enqueued` and `completed` events are derived from the task row,
not written (ADR 0036).

The store contract (test_store_history.py) checks what the history shows on every store;
these check how PostgreSQL holds it: no enqueue and no completion writes an event row, and
a row of either kind stored by older code is read instead of the derived one, not beside it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest

from leaseq.adapters.postgres import PostgresTaskStore, open_postgres_store
from leaseq.domain import TaskSpec, TaskState, Transition
from leaseq.ports import Complete, LeaseRequest

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


async def _stored_transitions(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch("SELECT transition FROM leaseq_task_events ORDER BY seq")
    return [row["transition"] for row in rows]


async def test_no_completion_writes_an_event_row(
    store: PostgresTaskStore, conn: asyncpg.Connection
) -> None:
    await store.enqueue([TaskSpec(queue="q", type="t"), TaskSpec(queue="q", type="t")])
    alone, batched = await store.lease(LeaseRequest("q", "w-1", 2, LEASE))
    assert alone.lease is not None and batched.lease is not None
    await store.complete(alone.id, alone.lease.token, {"ok": 1})  # the single call
    [reported] = await store.report([Complete(batched.id, batched.lease.token, {"ok": 2})])

    assert await _stored_transitions(conn) == ["leased", "leased"]
    for task_id in (alone.id, batched.id):
        done = await store.get(task_id)
        *_, event = await store.history(task_id)
        assert (event.transition, event.from_state, event.to_state) == (
            Transition.COMPLETED,
            TaskState.LEASED,
            TaskState.SUCCEEDED,
        )
        assert (event.at, event.attempt, event.epoch, event.worker, event.error) == (
            done.finished_at,
            1,
            1,
            "w-1",
            None,
        )
    assert reported == await store.get(batched.id)


async def test_a_completed_row_stored_by_older_code_is_read_once(
    store: PostgresTaskStore, conn: asyncpg.Connection
) -> None:
    await store.enqueue([TaskSpec(queue="q", type="t")])
    [task] = await store.lease(LeaseRequest("q", "w", 1, LEASE))
    assert task.lease is not None
    done = await store.complete(task.id, task.lease.token)
    assert done.finished_at is not None
    stored_at = done.finished_at + timedelta(seconds=1)  # tells the stored row apart
    await conn.execute(
        "INSERT INTO leaseq_task_events (task_id, at, transition, from_state, to_state,"
        " attempt, epoch, worker) VALUES ($1, $2, 'completed', 'leased', 'succeeded', 1, 1, 'w')",
        task.id,
        stored_at,
    )

    events = await store.history(task.id)

    assert [e.transition for e in events] == ["enqueued", "leased", "completed"]
    assert events[-1].at == stored_at


async def test_a_task_not_succeeded_has_no_completed_event(
    store: PostgresTaskStore, conn: asyncpg.Connection
) -> None:
    [enqueued] = await store.enqueue([TaskSpec(queue="q", type="t")])
    await store.cancel(enqueued.task_id)

    assert [e.transition for e in await store.history(enqueued.task_id)] == [
        "enqueued",
        "cancelled",
    ]
