"""Store contract: enqueue_keyed (one spec, a payload and an idempotency key per task, the
batch the SDK sends since ADR 0021) is enqueue of each spec, answered column-wise when
every task is new. Run against every store."""

from __future__ import annotations

import math
from typing import Any

import pytest
from attrs import evolve

from leaseq.domain import NewTasks, PayloadTooLarge, TaskSpec, ValidationError
from leaseq.ports import TaskStore
from tests.contract.test_store_enqueue import all_tasks
from tests.support import FakeClock, spec


def keyed(shared: TaskSpec, payloads: list[Any], keys: list[Any]) -> list[TaskSpec]:
    return [
        evolve(shared, payload=p, idempotency_key=k) for p, k in zip(payloads, keys, strict=True)
    ]


async def test_a_new_keyed_batch_is_answered_column_wise_and_stored_as_enqueue_would(
    store: TaskStore, clock: FakeClock
) -> None:
    shared = spec(priority=3, labels={"k": "v"}, max_attempts=4)
    payloads: list[Any] = [{"i": 1}, [1, 2.5, None], "text", None]
    keys = [f"sdk:abc:{i}" for i in range(4)]
    new = await store.enqueue_keyed(shared, payloads, keys, now=clock.now())
    assert isinstance(new, NewTasks) and new.keys == tuple(keys)
    stored = [await store.get(a.task_id) for a in new]
    assert [a.task for a in new] == stored and not any(a.deduplicated for a in new)
    assert [t.idempotency_key for t in stored] == keys
    assert [t.payload for t in stored] == payloads


async def test_a_keyed_batch_sent_again_answers_the_first_tasks_deduplicated(
    store: TaskStore, clock: FakeClock
) -> None:
    keys = ["sdk:x:0", "sdk:x:1", "sdk:x:2"]
    first = await store.enqueue_keyed(spec(), [1, 2, 3], keys, now=clock.now())
    again = await store.enqueue_keyed(spec(), [1, 2, 3], keys, now=clock.now())
    assert [a.task_id for a in again] == [a.task_id for a in first]
    assert all(a.deduplicated for a in again)
    assert [a.task for a in again] == [await store.get(a.task_id) for a in first]
    assert len(await all_tasks(store)) == 3


async def test_a_keyed_batch_partly_known_and_repeating_itself_answers_as_enqueue_does(
    store: TaskStore, clock: FakeClock
) -> None:
    [known] = await store.enqueue_keyed(spec(), ["old"], ["k-old"], now=clock.now())
    payloads, keys = ["a", "b", "c", "d"], ["k-new", "k-old", "k-new", "k-other"]
    answers = await store.enqueue_keyed(spec(), payloads, keys, now=clock.now())
    assert [a.deduplicated for a in answers] == [False, True, True, False]
    assert answers[1].task == await store.get(known.task_id)
    assert answers[2].task_id == answers[0].task_id
    assert answers[2].task == answers[0].task == await store.get(answers[0].task_id)
    assert len(await all_tasks(store)) == 3


@pytest.mark.parametrize(
    ("payloads", "keys", "field"),
    [
        ([1, 2], ["k1", ""], "idempotency_key"),
        ([1, 2], ["k1", "x" * 257], "idempotency_key"),
        ([1, 2], ["k\x00", "k2"], "idempotency_key"),
        ([{"x": math.nan}, 2], ["k1", "k2"], "payload"),
        ([{"x": math.nan}, 1], ["k1", ""], "payload"),  # the first refusal wins
        ([1, {"x": math.nan}], ["k1", ""], "idempotency_key"),  # a spec's key, then payload
        ([1] * 1001, [f"k{i}" for i in range(1001)], "tasks"),
    ],
    ids=["empty key", "long key", "nul in key", "payload", "payload first", "key first", "many"],
)
async def test_a_keyed_batch_is_refused_as_enqueue_of_each_spec_and_writes_nothing(
    store: TaskStore, clock: FakeClock, payloads: list[Any], keys: list[Any], field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        await store.enqueue_keyed(spec(), payloads, keys, now=clock.now())
    with pytest.raises(ValidationError) as alike:
        await store.enqueue(keyed(spec(), payloads, keys), now=clock.now())
    assert (refused.value.field, str(refused.value)) == (field, str(alike.value))
    assert await all_tasks(store) == []


async def test_a_keyed_batch_refuses_a_payload_too_large_as_enqueue(
    store: TaskStore, clock: FakeClock
) -> None:
    with pytest.raises(PayloadTooLarge):
        await store.enqueue_keyed(spec(), ["x", "y" * (1024 * 1024)], ["a", "b"], now=clock.now())
    assert await all_tasks(store) == []
