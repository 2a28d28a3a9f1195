"""Short verbs for the contract tests: each one store call, with the clock's `now` explicit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from leaseq.domain import Task
from leaseq.ports import LeaseRequest, TaskStore, TypeFilter
from tests.support import FakeClock, spec

LEASE_FOR = timedelta(seconds=30)


async def add(store: TaskStore, clock: FakeClock, **fields: Any) -> Task:
    [answer] = await store.enqueue([spec(**fields)], now=clock.now())
    return answer.task


async def take(
    store: TaskStore,
    clock: FakeClock,
    *,
    queue: str = "emails",
    limit: int = 10,
    types: Sequence[TypeFilter] | None = None,
    owner: str = "worker-1",
    lease_for: timedelta = LEASE_FOR,
) -> list[Task]:
    request = LeaseRequest(queue, owner, limit, lease_for, types)
    return await store.lease(request, now=clock.now())


async def take_one(store: TaskStore, clock: FakeClock, **kwargs: Any) -> tuple[Task, str]:
    [task] = await take(store, clock, limit=1, **kwargs)
    return task, token(task)


def token(task: Task) -> str:
    assert task.lease is not None, f"task {task.id} has no lease"
    return task.lease.token
