"""Store contract: enqueue, idempotency keys, validation before writing, copies, get."""

from __future__ import annotations

import math
import uuid
from datetime import timedelta, timezone
from typing import Any

import pytest
from attrs import evolve

from leaseq.domain import (
    PayloadTooLarge,
    RetryPolicy,
    TaskNotFound,
    TaskState,
    ValidationError,
)
from leaseq.ports import TaskFilter, TaskStore
from tests.contract.steps import add, take_one
from tests.support import FakeClock, spec


async def all_tasks(store: TaskStore) -> list[uuid.UUID]:
    return [t.id for t in (await store.list(TaskFilter(limit=1000))).tasks]


async def test_enqueue_answers_new_pending_tasks_in_the_order_of_the_specs(
    store: TaskStore, clock: FakeClock
) -> None:
    answers = await store.enqueue(
        [spec(type="a", priority=3, labels={"k": "v"}), spec(type="b", payload=[1, "x"])],
        now=clock.now(),
    )
    assert [(a.task.type, a.deduplicated) for a in answers] == [("a", False), ("b", False)]
    first, second = (a.task for a in answers)
    assert first.id < second.id
    assert (first.state, first.attempts, first.run_at, first.created_at) == (
        TaskState.PENDING,
        0,
        clock.now(),
        clock.now(),
    )
    assert (first.priority, first.labels, second.payload) == (3, {"k": "v"}, [1, "x"])


async def test_an_enqueued_task_reads_back_equal(store: TaskStore, clock: FakeClock) -> None:
    task = await add(store, clock, payload={"deep": {"list": [1, 2.5, None, True]}})
    assert await store.get(task.id) == task


async def test_a_repeated_idempotency_key_returns_the_existing_task_as_deduplicated(
    store: TaskStore, clock: FakeClock
) -> None:
    first = await add(store, clock, idempotency_key="welcome:42")
    clock.advance(5)
    [again] = await store.enqueue(
        [spec(idempotency_key="welcome:42", payload={"other": 1})], now=clock.now()
    )
    assert again.deduplicated and again.task == first
    assert await all_tasks(store) == [first.id]


async def test_a_key_repeated_within_one_batch_creates_one_task(
    store: TaskStore, clock: FakeClock
) -> None:
    answers = await store.enqueue(
        [spec(idempotency_key="k"), spec(), spec(idempotency_key="k")], now=clock.now()
    )
    assert [a.deduplicated for a in answers] == [False, False, True]
    assert answers[2].task == answers[0].task
    assert len(await all_tasks(store)) == 2


async def test_a_key_still_deduplicates_after_its_task_finished(
    store: TaskStore, clock: FakeClock
) -> None:
    first = await add(store, clock, idempotency_key="k")
    _, lease_token = await take_one(store, clock)
    done = await store.complete(first.id, lease_token, {"ok": 1}, now=clock.now())
    [again] = await store.enqueue([spec(idempotency_key="k")], now=clock.now())
    assert again.deduplicated and again.task == done


async def test_every_answer_of_a_mixed_batch_is_the_task_as_stored(
    store: TaskStore, clock: FakeClock
) -> None:
    old = await add(store, clock, idempotency_key="old")
    clock.advance(5)
    later = (clock.now() + timedelta(minutes=5)).astimezone(timezone(timedelta(hours=2)))
    answers = await store.enqueue(
        [
            spec(idempotency_key="new", labels={"b": "2", "a": "1"}, priority=-3),
            spec(idempotency_key="old", payload={"other": 1}),
            spec(run_at=later, max_attempts=3, retry_policy=RetryPolicy(2.0, 3.0, 60.0, 0.0)),
            spec(idempotency_key="new", payload=None),
            spec(type_version=7, payload=[2**70, 0.1, {"z": 1, "a": 2}]),
        ],
        now=clock.now(),
    )
    assert [a.deduplicated for a in answers] == [False, True, False, True, False]
    assert answers[1].task == old and answers[3].task == answers[0].task
    for answer in answers:
        assert answer.task == await store.get(answer.task.id)
    assert [a.task.created_at for a in answers] == [
        clock.now(),
        old.created_at,
        clock.now(),
        clock.now(),
        clock.now(),
    ]


@pytest.mark.parametrize("same", [True, False])
async def test_each_task_of_a_batch_keeps_its_own_values(
    store: TaskStore, clock: FakeClock, same: bool
) -> None:
    """Values the specs share and values that differ (one each) are both stored exactly."""
    later = clock.now() + timedelta(minutes=1)
    fields: dict[str, Any] = {
        "queue": "other",
        "type": "other",
        "type_version": 2,
        "labels": {"k": "v"},
        "priority": 9,
        "run_at": later,
        "max_attempts": 2,
        "retry_policy": RetryPolicy(0.5, 1.5, 10.0, 0.1),
        "idempotency_key": "only",
    }
    first = spec(payload=1, retry_policy=RetryPolicy(0.0, 1.0, 0.0, 0.0))
    for name, value in fields.items():
        other = evolve(first, payload=2) if same else evolve(first, payload=2, **{name: value})
        answers = await store.enqueue([first, other], now=clock.now())
        for answer, wanted in zip(answers, [first, other], strict=True):
            task = await store.get(answer.task.id)
            assert answer.task == task
            got = (task.queue, task.type, task.type_version, task.labels, task.priority)
            assert got == (wanted.queue, wanted.type, wanted.type_version, wanted.labels,
                           wanted.priority)  # fmt: skip
            assert (task.max_attempts, task.idempotency_key) == (
                wanted.max_attempts,
                wanted.idempotency_key,
            )
            assert task.run_at == (wanted.run_at or clock.now())
            assert repr(task.retry_policy) == repr(wanted.retry_policy), name
        await store.prune(retention=timedelta(0), limit=0, now=clock.now())
        clock.advance(1)
        if same:
            break


async def test_idempotency_keys_are_per_queue(store: TaskStore, clock: FakeClock) -> None:
    emails = await add(store, clock, queue="emails", idempotency_key="k")
    hooks = await add(store, clock, queue="hooks", idempotency_key="k")
    assert emails.id != hooks.id


async def test_a_key_is_free_again_once_its_task_is_pruned(
    store: TaskStore, clock: FakeClock
) -> None:
    first = await add(store, clock, idempotency_key="k")
    await store.cancel(first.id, now=clock.now())
    clock.advance(1)
    assert await store.prune(retention=timedelta(0), limit=10, now=clock.now()) == 1
    [again] = await store.enqueue([spec(idempotency_key="k")], now=clock.now())
    assert not again.deduplicated and again.task.id != first.id


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        ({"queue": "not a name"}, ValidationError),
        ({"priority": 10**6}, ValidationError),
        ({"payload": {"nan": float("nan")}}, ValidationError),
        ({"payload": "x" * (1024 * 1024 + 1)}, PayloadTooLarge),
        ({"idempotency_key": ""}, ValidationError),
    ],
    ids=["queue", "priority", "nan", "too-large", "empty-key"],
)
async def test_a_batch_with_one_invalid_spec_is_refused_and_writes_nothing(
    store: TaskStore, clock: FakeClock, bad: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        await store.enqueue([spec(idempotency_key="good"), spec(**bad)], now=clock.now())
    assert await all_tasks(store) == []
    [later] = await store.enqueue([spec(idempotency_key="good")], now=clock.now())
    assert not later.deduplicated


async def test_a_batch_larger_than_the_limit_is_refused(store: TaskStore, clock: FakeClock) -> None:
    with pytest.raises(ValidationError):
        await store.enqueue([spec()] * 1001, now=clock.now())
    assert await all_tasks(store) == []


async def test_an_empty_batch_answers_nothing(store: TaskStore, clock: FakeClock) -> None:
    assert await store.enqueue([], now=clock.now()) == []


async def test_a_scheduled_task_keeps_its_run_at(store: TaskStore, clock: FakeClock) -> None:
    later = clock.now() + timedelta(minutes=5)
    task = await add(store, clock, run_at=later)
    assert (task.state, task.run_at) == (TaskState.PENDING, later)


async def test_mutating_a_returned_task_does_not_change_the_store(
    store: TaskStore, clock: FakeClock
) -> None:
    task = await add(store, clock, payload={"items": [1]}, labels={"k": "v"})
    task.payload["items"].append(2)
    task.labels["k"] = "changed"
    fetched = await store.get(task.id)
    fetched.payload["items"].append(3)
    assert (await store.get(task.id)).payload == {"items": [1]}
    assert (await store.get(task.id)).labels == {"k": "v"}


async def test_mutating_the_enqueued_spec_payload_does_not_change_the_store(
    store: TaskStore, clock: FakeClock
) -> None:
    payload = {"items": [1]}
    task = await add(store, clock, payload=payload)
    payload["items"].append(2)
    assert (await store.get(task.id)).payload == {"items": [1]}


async def test_get_of_an_unknown_id_is_task_not_found(store: TaskStore) -> None:
    unknown = uuid.UUID("01900000-0000-7000-8000-ffffffffffff")
    with pytest.raises(TaskNotFound):
        await store.get(unknown)


# -- enqueue_each: one spec, many payloads, answered column-wise -------------------------


async def test_enqueue_each_stores_what_enqueue_of_each_spec_would(
    store: TaskStore, clock: FakeClock
) -> None:
    shared = spec(priority=3, labels={"k": "v"}, max_attempts=4, payload="ignored")
    payloads: list[Any] = [{"i": 1}, [1, 2.5, None], "text", None, {"n": {"deep": 2**70}}]
    new = await store.enqueue_each(shared, payloads, now=clock.now())
    assert len(new) == len(payloads) and list(new.payloads) == payloads
    assert new.created_at == clock.now() and list(new.ids) == sorted(new.ids)
    stored = [await store.get(i) for i in new.ids]
    assert [t.payload for t in stored] == payloads
    expected = await store.enqueue([evolve(shared, payload=p) for p in payloads], now=clock.now())
    for task, twin in zip(stored, (a.task for a in expected), strict=True):
        assert evolve(task, id=twin.id) == twin
    assert [a.task for a in new] == stored and not any(a.deduplicated for a in new)
    history = await store.history(new.ids[0])
    assert [e.transition.value for e in history] == ["enqueued"]


@pytest.mark.parametrize(
    ("shared", "payloads", "field"),
    [
        (spec(queue="bad name"), [1, {"x": math.nan}], "queue"),  # a field comes first
        (spec(), [1, {"x": math.nan}, "\x00"], "payload"),
        (spec(), [{1: "not a str key"}], "payload"),
        (spec(priority=5000), [1], "priority"),
        (spec(idempotency_key="k"), [1, 2], "idempotency_key"),
        (spec(), [1] * 1001, "tasks"),
    ],
    ids=["field", "nan", "key", "priority", "idempotency key", "too many"],
)
async def test_enqueue_each_refuses_as_enqueue_and_writes_nothing(
    store: TaskStore, clock: FakeClock, shared: Any, payloads: list[Any], field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        await store.enqueue_each(shared, payloads, now=clock.now())
    assert refused.value.field == field
    if field != "idempotency_key":
        with pytest.raises(ValidationError) as alike:
            await store.enqueue([evolve(shared, payload=p) for p in payloads], now=clock.now())
        assert str(alike.value) == str(refused.value)
    assert await all_tasks(store) == []


async def test_enqueue_each_refuses_a_payload_too_large_as_enqueue(
    store: TaskStore, clock: FakeClock
) -> None:
    payloads = ["x" * 10, "y" * (1024 * 1024)]
    with pytest.raises(PayloadTooLarge) as refused:
        await store.enqueue_each(spec(), payloads, now=clock.now())
    with pytest.raises(PayloadTooLarge) as alike:
        await store.enqueue([spec(payload=p) for p in payloads], now=clock.now())
    assert (refused.value.size, refused.value.limit) == (alike.value.size, alike.value.limit)
    assert await all_tasks(store) == []


async def test_enqueue_each_of_no_payloads_answers_nothing(
    store: TaskStore, clock: FakeClock
) -> None:
    new = await store.enqueue_each(spec(), [], now=clock.now())
    assert len(new) == 0 and list(new) == [] and await all_tasks(store) == []
