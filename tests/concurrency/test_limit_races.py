"""Flow control under races (ADR 0030): spawned actors hammer two `leaseq serve` replicas
of one limited queue. From the event history and the store's own: the caps never exceeded
at any instant, grants within the rate, no key starved, nothing lost, and every
single-owner guarantee of the plain races."""

from __future__ import annotations

import asyncio
import itertools
import operator
import random
import time
from pathlib import Path
from uuid import UUID

import pytest

from tests.concurrency.actors import LEASE_FOR, drain, record_final_states, worker
from tests.concurrency.history import Event, History, check
from tests.concurrency.limit_checks import check_fair_share, check_limits, check_rate
from tests.concurrency.processes import run_actor_processes, services, soak_seconds

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300 + 4 * soak_seconds(0))]

PROCESSES = 4
TYPES = 4  # one per actor process
QUEUE = "flow"
CONCURRENCY, PER_KEY, RATE = 5, 2, 30.0
# one busy key enqueued first (its tasks are the oldest), then six quiet ones
BACKLOG = [("busy", 200)] + [(f"quiet{n}", 10) for n in range(6)]


def _actor_process(url: str, actor: str, seed: int, barrier, out: str, seconds: float) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(_act(url, actor, seed, barrier, Path(out), seconds))


async def _act(url: str, actor: str, seed: int, barrier, out: Path, seconds: float) -> None:  # type: ignore[no-untyped-def]
    from leaseq.ports import TypeFilter
    from tests.concurrency.http_store import HttpTaskStore

    # each actor claims one type of its own: no two claims pick the same task, so a grant
    # decided on a stale count would show as a cap exceeded
    types = (TypeFilter(f"race{seed % TYPES}", 1),)
    store = HttpTaskStore(url)
    history = History()
    try:
        await asyncio.to_thread(barrier.wait)
        deadline = asyncio.get_running_loop().time() + seconds
        await worker(
            store,  # type: ignore[arg-type]
            QUEUE,
            actor,
            history,
            random.Random(seed),
            deadline=deadline,
            types=types,
        )
    finally:
        history.dump(out)
        await store.close()


async def _enqueue(store, history: History) -> dict[str, str | None]:  # type: ignore[no-untyped-def]
    from leaseq.domain import TaskSpec

    keys: dict[str, str | None] = {}
    for key, count in BACKLOG:
        specs = [
            TaskSpec(QUEUE, f"race{i % TYPES}", i, max_attempts=6, concurrency_key=key)
            for i in range(count)
        ]
        for answer in await store.enqueue(specs):
            keys[str(answer.task.id)] = key
            history.add(Event("enqueue", str(answer.task.id), "producer", accepted=True))
    return keys


async def _stored_grants(store, keys: dict[str, str | None]) -> list[tuple[object, str]]:  # type: ignore[no-untyped-def]
    """Every grant the store recorded (the `leased` events of the tasks' histories), oldest
    first: (store time, task id). The grants of one statement share their instant, and the
    history keeps no order among them: there, the keys granted before come first, so a key's
    first grant counts as late as it can have been (the fairness check is at least as
    strict as on the statement's own order)."""
    from leaseq.domain import Transition

    grants = []
    for task_id in keys:
        for event in await store.history(UUID(task_id), limit=1000):
            if event.transition is Transition.LEASED:
                grants.append((event.at, task_id))
    seen: set[str | None] = set()
    ordered: list[tuple[object, str]] = []
    for _, group in itertools.groupby(sorted(grants), key=operator.itemgetter(0)):
        tied = list(group)
        ordered += [g for g in tied if keys[g[1]] in seen]
        ordered += [g for g in tied if keys[g[1]] not in seen]
        seen.update(keys[task_id] for _, task_id in tied)
    return ordered


async def test_two_replicas_keep_a_limited_queue_within_its_limits_and_fair(
    pg_migrated_url: str, tmp_path: Path
) -> None:
    from leaseq.adapters.postgres import open_postgres_store
    from leaseq.domain import QueueLimits

    seconds = soak_seconds(8)
    store = await open_postgres_store(pg_migrated_url)
    history = History()
    keys = await _enqueue(store, history)
    await store.set_limits(QUEUE, QueueLimits(CONCURRENCY, PER_KEY, RATE))
    with services(pg_migrated_url, tmp_path, count=2) as replicas:
        urls = [replica.url for replica in replicas]
        outs = await run_actor_processes(_actor_process, urls, PROCESSES, seconds, tmp_path)
    lifted = time.monotonic()  # the drain runs unlimited; the checks end here
    limited_grants = len(await _stored_grants(store, keys))
    await store.set_limits(QUEUE, QueueLimits())
    await drain(store, QUEUE, history)
    await record_final_states(store, list(keys), history)
    finals = {(await store.get(UUID(task_id))).state.value for task_id in keys}
    grants = (await _stored_grants(store, keys))[:limited_grants]
    await store.close()

    merged = History(history.events + History.load(outs).events)
    assert check(merged) == []
    assert finals <= {"succeeded", "dead"}, finals  # nothing lost
    assert (
        check_limits(
            merged,
            keys=keys,
            concurrency=CONCURRENCY,
            per_key=PER_KEY,
            lease_for=LEASE_FOR,
            granted_before=lifted,
        )
        == []
    )
    assert check_rate([at for at, _ in grants], RATE) == []  # type: ignore[misc]
    assert len(grants) >= RATE * seconds / 2, "the rate was never what held the grants"
    ready = {key for key, _ in BACKLOG}
    assert check_fair_share([keys[t] for _, t in grants], ready, slack=CONCURRENCY) == []
    refused = {e.error for e in merged.events if not e.accepted}
    assert "lease_expired" in refused, "the race never let a lease lapse"
