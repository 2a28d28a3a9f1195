"""Races on the memory store: many asyncio workers, expiries, stale tokens; then the checker."""

from __future__ import annotations

from collections import Counter

from leaseq.adapters.memory import InMemoryTaskStore
from tests.concurrency.actors import race_in_one_loop
from tests.concurrency.history import check


async def test_racing_workers_on_the_memory_store_keep_every_guarantee() -> None:
    store = InMemoryTaskStore()
    history = await race_in_one_loop(store, tasks=300, workers=8, seconds=6)

    assert check(history) == []
    refused = Counter(e.error for e in history.events if not e.accepted)
    assert {"lease_lost", "lease_expired"} <= set(refused), f"refusals seen: {refused}"
