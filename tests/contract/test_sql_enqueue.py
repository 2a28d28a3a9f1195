"""PostgreSQL only: the `leaseq_enqueue` SQL function (ADR 0027) refuses what the domain's
validation refuses, naming the same field, accepts what it accepts, deduplicates as
POST /v1/tasks does, and is transactional: rolled back, no task; committed, a pending
task that a waiting lease request is woken for."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from leaseq.adapters.postgres import PostgresNotifier, open_postgres_store
from leaseq.adapters.system import RandomJitter
from leaseq.app.services import LongPoll, TaskService
from leaseq.domain import DEFAULT_LIMITS, PayloadTooLarge, RetryPolicy, TaskSpec, TaskState
from leaseq.domain import ValidationError as DomainRefusal
from leaseq.domain import validation as v
from leaseq.domain.task import DEFAULT_MAX_ATTEMPTS
from leaseq.ports import LeaseRequest

pytestmark = pytest.mark.postgres

MIB = DEFAULT_LIMITS.max_payload_bytes
CALL = "SELECT leaseq_enqueue($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9::jsonb, $10)"


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def sized(size: int, unit: str = "x") -> Any:
    """An object whose compact JSON is `size` bytes: {"k":"…"} (8 bytes around the text)."""
    count, rest = divmod(size - 8, len(json.dumps(unit, ensure_ascii=False)[1:-1].encode()))
    return {"k": unit * count + "x" * rest}


# (case, the TaskSpec fields given, the field the refusal names)
REFUSED = [
    ("empty queue", {"queue": ""}, "queue"),
    ("queue with a space", {"queue": "a b"}, "queue"),
    ("queue too long", {"queue": "q" * 129}, "queue"),
    ("queue not ASCII", {"queue": "é"}, "queue"),
    ("queue starting with -", {"queue": "-q"}, "queue"),
    ("type with a slash", {"type": "a/b"}, "type"),
    ("type_version 0", {"type_version": 0}, "type_version"),
    ("priority above", {"priority": 1001}, "priority"),
    ("priority below", {"priority": -1001}, "priority"),
    ("max_attempts 0", {"max_attempts": 0}, "max_attempts"),
    ("max_attempts above", {"max_attempts": 1001}, "max_attempts"),
    ("65 labels", {"labels": {f"k{i}": "v" for i in range(65)}}, "labels"),
    ("empty label key", {"labels": {"": "v"}}, "labels"),
    ("label key too long", {"labels": {"k" * 129: "v"}}, "labels"),
    ("label value too long", {"labels": {"k": "v" * 1025}}, "labels.k"),
    ("empty idempotency key", {"idempotency_key": ""}, "idempotency_key"),
    ("idempotency key too long", {"idempotency_key": "k" * 257}, "idempotency_key"),
    ("empty concurrency key", {"concurrency_key": ""}, "concurrency_key"),
    ("concurrency key too long", {"concurrency_key": "k" * 257}, "concurrency_key"),
    ("payload 65 levels deep", {"payload": nested(65)}, "payload"),
    ("payload over 1 MiB", {"payload": sized(MIB + 1)}, "payload"),
    ("payload over 1 MiB, escapes", {"payload": sized(MIB + 1, "é\n")}, "payload"),
]
ACCEPTED = [
    ("priority bounds", {"priority": 1000}),
    ("priority bounds below", {"priority": -1000}),
    ("max_attempts 1", {"max_attempts": 1}),
    ("max_attempts 1000", {"max_attempts": 1000}),
    ("queue of 128", {"queue": "Q" + "q_.:-9" * 21 + "x"}),
    ("64 labels", {"labels": {f"k{i}": "v" * 1024 for i in range(64)}}),
    ("idempotency key of 256", {"idempotency_key": "é" * 256}),
    ("concurrency key of 256", {"concurrency_key": "é" * 256}),
    ("payload 64 levels deep", {"payload": nested(64)}),
    ("payload of 1 MiB", {"payload": sized(MIB)}),
    ("payload of 1 MiB, escapes", {"payload": sized(MIB, "é\n")}),
    ("payload null", {"payload": None}),
]


@pytest.fixture
async def conn(pg_migrated_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(pg_migrated_url)
    try:
        yield connection
    finally:
        await connection.close()


def args(fields: dict[str, Any]) -> list[Any]:
    spec = {"queue": "emails", "type": "send", "payload": {"n": 1}, **fields}
    labels = spec.get("labels")
    return [
        spec["queue"],
        spec["type"],
        json.dumps(spec["payload"], ensure_ascii=False),
        spec.get("type_version", 1),
        spec.get("priority", 0),
        None,
        spec.get("idempotency_key"),
        spec.get("max_attempts"),
        None if labels is None else json.dumps(labels, ensure_ascii=False),
        spec.get("concurrency_key"),
    ]


def domain_check(fields: dict[str, Any]) -> None:
    spec = {"queue": "emails", "type": "send", "payload": {"n": 1}, **fields}
    v.check_spec(TaskSpec(**spec))


@pytest.mark.parametrize(("fields", "field"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
async def test_the_sql_function_refuses_what_the_domain_refuses_naming_the_same_field(
    conn: asyncpg.Connection, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(DomainRefusal) as domain:
        domain_check(fields)
    assert domain.value.field == field
    with pytest.raises(asyncpg.PostgresError) as sql:
        await conn.fetchval(CALL, *args(fields))
    assert sql.value.column_name == field
    assert sql.value.sqlstate == ("54000" if isinstance(domain.value, PayloadTooLarge) else "22023")
    assert str(sql.value).startswith(f"leaseq_enqueue: {field}: ")
    assert await conn.fetchval("SELECT count(*) FROM leaseq_tasks") == 0


@pytest.mark.parametrize("fields", [c[1] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
async def test_the_sql_function_accepts_what_the_domain_accepts(
    conn: asyncpg.Connection, fields: dict[str, Any]
) -> None:
    domain_check(fields)
    task_id = await conn.fetchval(CALL, *args(fields))
    row = await conn.fetchrow(
        "SELECT payload, concurrency_key FROM leaseq_tasks WHERE id = $1", task_id
    )
    assert json.loads(row["payload"]) == fields.get("payload", {"n": 1})
    assert row["concurrency_key"] == fields.get("concurrency_key")


async def test_a_task_enqueued_in_sql_reads_back_as_the_domain_would_make_it(
    pg_migrated_url: str, conn: asyncpg.Connection
) -> None:
    store = await open_postgres_store(pg_migrated_url, pool_size=1)
    try:
        task_id = await conn.fetchval(
            "SELECT leaseq_enqueue('emails', 'send', $1, labels => $2)",
            '{"to": "a@b.c"}',
            '{"a": "b"}',
        )
        task = await store.get(task_id)
        [event] = await store.history(task_id)
    finally:
        await store.close()
    assert (task.queue, task.type, task.type_version, task.priority) == ("emails", "send", 1, 0)
    assert (task.payload, task.labels) == ({"to": "a@b.c"}, {"a": "b"})
    assert (task.retry_policy, task.max_attempts) == (RetryPolicy(), DEFAULT_MAX_ATTEMPTS)
    assert (task.state, task.attempts, task.epoch, task.run_at) == (
        TaskState.PENDING,
        0,
        0,
        task.created_at,
    )
    assert (event.transition.value, event.to_state, event.at) == (
        "enqueued",
        TaskState.PENDING,
        task.created_at,
    )
    assert task_id.version == 7


async def test_a_repeated_idempotency_key_answers_the_first_task_per_queue(
    conn: asyncpg.Connection,
) -> None:
    call = "SELECT * FROM leaseq_enqueue_result($1, 'send', '{}', idempotency_key => 'k')"
    first = await conn.fetchrow(call, "emails")
    again = await conn.fetchrow(call, "emails")
    elsewhere = await conn.fetchrow(call, "hooks")
    assert (first["deduplicated"], again["deduplicated"], elsewhere["deduplicated"]) == (
        False,
        True,
        False,
    )
    assert again["id"] == first["id"] != elsewhere["id"]
    assert again["state"] == "pending"
    plain = "SELECT leaseq_enqueue($1, 'send', '{}', idempotency_key => 'k')"
    assert await conn.fetchval(plain, "emails") == first["id"]
    assert await conn.fetchval("SELECT count(*) FROM leaseq_tasks") == 2


async def test_a_key_taken_by_a_transaction_still_open_answers_its_task_once_it_commits(
    pg_migrated_url: str, conn: asyncpg.Connection
) -> None:
    """The second call waits for the first transaction holding the key, then answers its
    task, deduplicated: neither a second task nor a unique violation."""
    call = "SELECT * FROM leaseq_enqueue_result('emails', 'send', '{}', idempotency_key => 'k')"
    other = await asyncpg.connect(pg_migrated_url)
    try:
        async with conn.transaction():
            first = await conn.fetchrow(call)
            second = asyncio.create_task(other.fetchrow(call))
            await asyncio.sleep(0.3)
            assert not second.done()  # waiting on the first transaction's key
        again = await asyncio.wait_for(second, 10)
    finally:
        await other.close()
    assert (first["deduplicated"], again["deduplicated"]) == (False, True)
    assert again["id"] == first["id"]
    assert await conn.fetchval("SELECT count(*) FROM leaseq_tasks") == 1


async def test_the_calls_of_before_the_concurrency_key_still_resolve(
    conn: asyncpg.Connection,
) -> None:
    nine = "SELECT leaseq_enqueue($1, 'send', '{}', 1, 0, NULL, NULL, NULL, NULL)"
    keyed = "SELECT leaseq_enqueue($1, 'send', '{}', concurrency_key => 'tenant-1')"
    first, second = await conn.fetchval(nine, "emails"), await conn.fetchval(keyed, "emails")
    keys = await conn.fetch("SELECT id, concurrency_key FROM leaseq_tasks ORDER BY id")
    assert [(r["id"], r["concurrency_key"]) for r in keys] == [(first, None), (second, "tenant-1")]


async def test_a_rolled_back_transaction_leaves_no_task_and_no_history(
    conn: asyncpg.Connection,
) -> None:
    transaction = conn.transaction()
    await transaction.start()
    await conn.fetchval("SELECT leaseq_enqueue('emails', 'send', '{}')")
    await transaction.rollback()
    counts = "SELECT (SELECT count(*) FROM leaseq_tasks), (SELECT count(*) FROM leaseq_task_events)"
    assert tuple(await conn.fetchrow(counts)) == (0, 0)


async def test_a_lease_request_waiting_on_the_queue_wakes_when_the_transaction_commits(
    pg_migrated_url: str, conn: asyncpg.Connection
) -> None:
    store = await open_postgres_store(pg_migrated_url, pool_size=2)
    notifier = PostgresNotifier(pg_migrated_url)
    await notifier.start()
    # a fallback poll far longer than the test: only the NOTIFY can wake the waiter
    service = TaskService(store, notifier, RandomJitter(), LongPoll(30.0, fallback_poll=30.0))
    request = LeaseRequest("emails", "w", 1, timedelta(seconds=30))
    try:
        waiting = asyncio.create_task(service.lease(request, wait_seconds=25))
        await asyncio.sleep(0.3)
        async with conn.transaction():
            task_id = await conn.fetchval("SELECT leaseq_enqueue('emails', 'send', '{}')")
            await asyncio.sleep(0.5)
            assert not waiting.done()  # not before the commit: the task is not visible yet
        started = asyncio.get_running_loop().time()
        async with asyncio.timeout(10):
            [granted] = await waiting
        print(f"woken {asyncio.get_running_loop().time() - started:.3f} s after the commit")
        assert granted.id == task_id
    finally:
        await service.close()
        await notifier.close()
        await store.close()


async def test_the_function_resolves_its_tables_whatever_the_callers_search_path(
    conn: asyncpg.Connection,
) -> None:
    await conn.execute("CREATE SCHEMA elsewhere")
    await conn.execute("CREATE TABLE elsewhere.leaseq_tasks (id uuid)")
    await conn.execute("SET search_path = elsewhere, public")
    task_id = await conn.fetchval("SELECT public.leaseq_enqueue('emails', 'send', '{}')")
    assert await conn.fetchval("SELECT count(*) FROM public.leaseq_tasks") == 1
    assert await conn.fetchval("SELECT count(*) FROM elsewhere.leaseq_tasks") == 0
    assert task_id is not None
