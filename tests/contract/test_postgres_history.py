"""PostgreSQL only: the `enqueued`, `leased` and `completed` events are derived from the task
row, not written, and a lease that ends other than by success writes its grant's `leased`
row then (ADR 0036).

The store contract (test_store_history.py) checks what the history shows on every store;
these check how PostgreSQL holds it: the happy path (enqueue, grant, completion) writes no
event row; each other end of a lease writes the grant's row before its own; and a row of a
derived kind stored by older code is read instead of the derived one, not beside it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg
import pytest

from leaseq.adapters.postgres import PostgresTaskStore, open_postgres_store
from leaseq.domain import ReportedTask, Task, TaskSpec, TaskState, Transition
from leaseq.ports import Complete, Fail, LeaseRequest, Retry

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


async def _store_as_older_code(
    conn: asyncpg.Connection,
    task_id: UUID,
    at: datetime,
    transition: str,
    from_state: str | None,
    to_state: str,
    attempt: int,
    worker: str | None,
) -> None:
    """The history row that code before 0006/0007 wrote for a transition; the epoch is the
    attempt (one grant per attempt in these tests)."""
    await conn.execute(
        "INSERT INTO leaseq_task_events (task_id, at, transition, from_state, to_state,"
        " attempt, epoch, worker) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        task_id,
        at,
        transition,
        from_state,
        to_state,
        attempt,
        attempt,
        worker,
    )


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
    await _store_as_older_code(conn, task.id, stored_at, "enqueued", None, "pending", 0, None)
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


async def test_no_grant_and_no_completion_writes_an_event_row(
    store: PostgresTaskStore, conn: asyncpg.Connection
) -> None:
    await store.enqueue([TaskSpec(queue="q", type="t"), TaskSpec(queue="q", type="t")])
    alone, batched = await store.lease(LeaseRequest("q", "w-1", 2, LEASE))
    assert alone.lease is not None and batched.lease is not None
    live = await store.history(alone.id)
    await store.complete(alone.id, alone.lease.token, {"ok": 1})  # the single call
    [reported] = await store.report([Complete(batched.id, batched.lease.token, {"ok": 2})])

    assert await _stored_transitions(conn) == []
    assert [e.transition for e in live] == ["enqueued", "leased"]  # the live lease's
    for granted in (alone, batched):
        done = await store.get(granted.id)
        _, leased, completed = await store.history(granted.id)
        assert [(e.transition, e.from_state, e.to_state) for e in (leased, completed)] == [
            (Transition.LEASED, TaskState.PENDING, TaskState.LEASED),
            (Transition.COMPLETED, TaskState.LEASED, TaskState.SUCCEEDED),
        ]
        assert (leased.at, leased.attempt, leased.epoch, leased.worker, leased.error) == (
            granted.updated_at,  # the grant's instant
            1,
            1,
            "w-1",
            None,
        )
        assert (completed.at, completed.attempt, completed.epoch, completed.worker) == (
            done.finished_at,
            1,
            1,
            "w-1",
        )
    assert reported == ReportedTask.of(await store.get(batched.id))


async def _granted(store: PostgresTaskStore, **spec: object) -> Task:
    """A task of its own queue, enqueued and leased to "w-1"."""
    queue = f"q-{uuid.uuid4()}"
    await store.enqueue([TaskSpec(queue=queue, type="t", **spec)])  # type: ignore[arg-type]
    [task] = await store.lease(LeaseRequest(queue, "w-1", 1, LEASE))
    return task


async def _stored(conn: asyncpg.Connection, task_id: UUID) -> list[tuple[object, ...]]:
    rows = await conn.fetch(
        "SELECT transition, at, attempt, epoch, worker FROM leaseq_task_events"
        " WHERE task_id = $1 ORDER BY seq",
        task_id,
    )
    return [tuple(row) for row in rows]


def _token(task: Task) -> str:
    assert task.lease is not None
    return task.lease.token


_ENDINGS: dict[str, Callable[[PostgresTaskStore, Task], Awaitable[object]]] = {
    "retried": lambda s, t: s.retry(t.id, _token(t), "boom", delay=timedelta(0)),
    "failed": lambda s, t: s.fail(t.id, _token(t), "bad"),
    "released": lambda s, t: s.release(t.id, _token(t)),
    "cancelled": lambda s, t: s.cancel(t.id),
    "retried by report": lambda s, t: s.report([Retry(t.id, _token(t), "boom")]),
    "failed by report": lambda s, t: s.report([Fail(t.id, _token(t), "bad")]),
}


@pytest.mark.parametrize("ending", list(_ENDINGS))
async def test_a_lease_ended_otherwise_writes_its_grants_row_first(
    store: PostgresTaskStore, conn: asyncpg.Connection, ending: str
) -> None:
    task = await _granted(store)
    await _ENDINGS[ending](store, task)

    leased, own = await _stored(conn, task.id)
    assert leased == ("leased", task.updated_at, 1, 1, "w-1")
    assert own[0] == ending.split()[0]
    events = await store.history(task.id)
    assert [e.transition for e in events] == ["enqueued", "leased", own[0]]


async def test_an_expired_lease_writes_its_grants_row_first(
    store: PostgresTaskStore, conn: asyncpg.Connection
) -> None:
    """Each way an expired lease ends: the sweep (attempts left, or none), a new grant,
    and a lease request that dead-letters it (no attempt left)."""
    swept, exhausted = [await _granted(store, max_attempts=n) for n in (2, 1)]
    later = datetime.now(UTC) + 2 * LEASE
    assert await store.expire_due(limit=100, now=later) == 2
    assert [row[0] for row in await _stored(conn, swept.id)] == ["leased", "expired"]
    assert [row[0] for row in await _stored(conn, exhausted.id)] == ["leased", "dead_lettered"]

    first = await _granted(store, max_attempts=2)
    [second] = await store.lease(LeaseRequest(first.queue, "w-2", 1, LEASE), now=later)
    assert await store.lease(LeaseRequest(first.queue, "w-3", 1, LEASE), now=later + LEASE) == []

    first_leased, expired, second_leased, dead_lettered = await _stored(conn, first.id)
    assert first_leased == ("leased", first.updated_at, 1, 1, "w-1")
    assert expired[:4] == ("expired", later, 1, 1)
    assert second_leased == ("leased", later, 2, 2, "w-2")
    assert dead_lettered[:4] == ("dead_lettered", later + LEASE, 2, 2)
    assert second.updated_at == later


async def test_a_leased_row_stored_by_older_code_is_read_once_and_not_written_again(
    store: PostgresTaskStore, conn: asyncpg.Connection
) -> None:
    """Older code stored the grant's row (a replica of 0006 during a rolling upgrade): the
    history reads it instead of a derived one, and the lease's end adds no second."""
    task = await _granted(store)
    stored_at = task.updated_at - timedelta(seconds=1)  # tells the stored row apart
    await _store_as_older_code(conn, task.id, stored_at, "leased", "pending", "leased", 1, "w-1")
    assert [(e.transition, e.at) for e in await store.history(task.id)][1:] == [
        (Transition.LEASED, stored_at)
    ]

    await store.retry(task.id, _token(task), "boom", delay=timedelta(0))

    assert [row[:2] for row in await _stored(conn, task.id)] == [
        ("leased", stored_at),
        ("retried", (await store.get(task.id)).updated_at),
    ]


async def test_a_completed_row_stored_by_older_code_is_read_once(
    store: PostgresTaskStore, conn: asyncpg.Connection
) -> None:
    await store.enqueue([TaskSpec(queue="q", type="t")])
    [task] = await store.lease(LeaseRequest("q", "w", 1, LEASE))
    assert task.lease is not None
    done = await store.complete(task.id, task.lease.token)
    assert done.finished_at is not None
    stored_at = done.finished_at + timedelta(seconds=1)  # tells the stored row apart
    await _store_as_older_code(conn, task.id, stored_at, "completed", "leased", "succeeded", 1, "w")

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
