"""Races through the service: spawned actors hammer two `leaseq serve` replicas over HTTP.

The same misbehaving actor as the store races (stale tokens, lapsed leases, retries),
the same history and checker; the service's own expiry sweep runs in both replicas.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from tests.concurrency.actors import drain, enqueue_tasks, record_final_states, worker
from tests.concurrency.history import History, check
from tests.concurrency.processes import run_actor_processes, services, soak_seconds

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300 + 4 * soak_seconds(0))]

PROCESSES = 4
TASKS = 300


def _actor_process(url: str, actor: str, seed: int, barrier, out: str, seconds: float) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(_act(url, actor, seed, barrier, Path(out), seconds))


async def _act(url: str, actor: str, seed: int, barrier, out: Path, seconds: float) -> None:  # type: ignore[no-untyped-def]
    from tests.concurrency.http_store import HttpTaskStore

    store = HttpTaskStore(url)
    history = History()
    try:
        await asyncio.to_thread(barrier.wait)
        deadline = asyncio.get_running_loop().time() + seconds
        await worker(store, "race", actor, history, random.Random(seed), deadline=deadline)  # type: ignore[arg-type]
    finally:
        history.dump(out)
        await store.close()


async def test_actors_racing_through_two_service_replicas_keep_every_guarantee(
    pg_migrated_url: str, tmp_path: Path
) -> None:
    from leaseq.adapters.postgres import open_postgres_store

    seconds = soak_seconds(6)
    store = await open_postgres_store(pg_migrated_url)
    history = History()
    task_ids = await enqueue_tasks(store, "race", TASKS if seconds < 30 else TASKS * 20, history)
    with services(pg_migrated_url, tmp_path, count=2) as replicas:
        urls = [replica.url for replica in replicas]
        outs = await run_actor_processes(_actor_process, urls, PROCESSES, seconds, tmp_path)
    await drain(store, "race", history)
    await record_final_states(store, task_ids, history)
    await store.close()

    merged = History(history.events + History.load(outs).events)
    assert check(merged) == []
    refused = {e.error for e in merged.events if not e.accepted}
    assert {"lease_lost", "lease_expired"} <= refused, "the race never exercised a refusal"
    assert len({e.actor for e in merged.events if e.op == "grant"}) >= PROCESSES
