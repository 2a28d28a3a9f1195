"""Races on PostgreSQL: spawned worker processes, lined up by a barrier, one history."""

from __future__ import annotations

import asyncio
import multiprocessing
import random
from collections import Counter
from pathlib import Path

from tests.concurrency.actors import drain, enqueue_tasks, record_final_states, sweep, worker
from tests.concurrency.history import History, check

PROCESSES = 4
TASKS = 400


def _worker_process(url: str, actor: str, seed: int, barrier, out: str) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(_work(url, actor, seed, barrier, Path(out)))


async def _work(url: str, actor: str, seed: int, barrier, out: Path) -> None:  # type: ignore[no-untyped-def]
    from leaseq.adapters.postgres import open_postgres_store

    store = await open_postgres_store(url, pool_size=2)
    history = History()
    try:
        await asyncio.to_thread(barrier.wait)
        deadline = asyncio.get_running_loop().time() + 6
        await worker(store, "race", actor, history, random.Random(seed), deadline=deadline)
    finally:
        history.dump(out)
        await store.close()


async def test_racing_worker_processes_on_postgres_keep_every_guarantee(
    pg_database_url: str, tmp_path: Path
) -> None:
    from leaseq.adapters.postgres import migrate, open_postgres_store

    await migrate(pg_database_url)
    store = await open_postgres_store(pg_database_url)
    history = History()
    task_ids = await enqueue_tasks(store, "race", TASKS, history)

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES + 1)
    outs = [tmp_path / f"history-{n}.jsonl" for n in range(PROCESSES)]
    procs = [
        ctx.Process(
            target=_worker_process, args=(pg_database_url, f"p{n}", n, barrier, str(outs[n]))
        )
        for n in range(PROCESSES)
    ]
    for proc in procs:
        proc.start()
    stop = asyncio.Event()
    await asyncio.to_thread(barrier.wait, 60)
    sweeper = asyncio.create_task(sweep(store, stop))
    for proc in procs:
        await asyncio.to_thread(proc.join, 60)
        assert proc.exitcode == 0, f"worker process exited with {proc.exitcode}"
    await drain(store, "race", history)
    stop.set()
    await sweeper
    await record_final_states(store, task_ids, history)
    await store.close()

    merged = History(history.events + History.load(outs).events)
    assert check(merged) == []
    refused = Counter(e.error for e in merged.events if not e.accepted)
    assert {"lease_lost", "lease_expired"} <= set(refused), f"refusals seen: {refused}"
    grants = [e for e in merged.events if e.op == "grant"]
    assert len({e.actor for e in grants}) >= PROCESSES, "not every process got work"
