"""Races on the memory store: many asyncio workers, expiries, stale tokens; then the checker."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

from leaseq.adapters.memory import InMemoryTaskStore
from tests.concurrency.actors import drain, enqueue_tasks, record_final_states, sweep, worker
from tests.concurrency.history import History, check


async def test_racing_workers_on_the_memory_store_keep_every_guarantee() -> None:
    store = InMemoryTaskStore()
    history = History()
    task_ids = await enqueue_tasks(store, "race", 300, history)
    stop = asyncio.Event()
    sweeper = asyncio.create_task(sweep(store, stop))
    deadline = asyncio.get_running_loop().time() + 6
    await asyncio.gather(
        *(
            worker(store, "race", f"w{n}", history, random.Random(n), deadline=deadline)
            for n in range(8)
        )
    )
    await drain(store, "race", history)
    stop.set()
    await sweeper
    await record_final_states(store, task_ids, history)

    assert check(history) == []
    refused = Counter(e.error for e in history.events if not e.accepted)
    assert {"lease_lost", "lease_expired"} <= set(refused), f"refusals seen: {refused}"
