"""Workers that hammer a task store and write down every call in an event history.

The same actor runs inside asyncio tasks (memory store) and spawned processes (PostgreSQL);
it behaves badly on purpose: it lets leases expire, reuses stale tokens and retries.
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import timedelta
from uuid import UUID

from leaseq.domain import DomainError, Task, TaskSpec, TaskState
from leaseq.ports import LeaseRequest, TaskStore, TypeFilter
from tests.concurrency.history import Event, History

LEASE_FOR = timedelta(seconds=1)


async def enqueue_tasks(store: TaskStore, queue: str, n: int, history: History) -> list[str]:
    ids: list[str] = []
    for start in range(0, n, 100):
        specs = [
            TaskSpec(queue, "race", {"i": i}, max_attempts=6)
            for i in range(start, min(n, start + 100))
        ]
        for answer in await store.enqueue(specs):
            task_id = str(answer.task.id)
            ids.append(task_id)
            history.add(Event("enqueue", task_id, "producer", accepted=True))
    return ids


async def worker(
    store: TaskStore,
    queue: str,
    actor: str,
    history: History,
    rng: random.Random,
    *,
    deadline: float,
    lease_for: timedelta = LEASE_FOR,
    types: tuple[TypeFilter, ...] | None = None,
) -> None:
    """Lease and finish tasks (of `types`, None: any) until the queue stays empty or
    `deadline` (loop time) passes."""
    loop = asyncio.get_running_loop()
    stale: list[tuple[Task, str]] = []
    idle = 0
    while loop.time() < deadline and idle < 40:
        limit = rng.choice((1, 3, 10))
        granted = await lease(store, queue, actor, limit, lease_for, history, types)
        idle = 0 if granted else idle + 1
        for task in granted:
            await _act(store, task, actor, history, rng, stale, lease_for)
        if stale and rng.random() < 0.3:
            old, token = stale.pop(rng.randrange(len(stale)))
            await call(store, "complete", old, token, actor, history, lease_for)
        if not granted:
            await asyncio.sleep(0.02)
    for old, token in stale:  # the hung worker wakes up at last; others have moved on
        await call(store, "complete", old, token, actor, history, lease_for)


async def lease(
    store: TaskStore,
    queue: str,
    actor: str,
    limit: int,
    lease_for: timedelta,
    history: History,
    types: tuple[TypeFilter, ...] | None = None,
) -> list[Task]:
    """One lease call, every grant written down."""
    sent = time.monotonic()
    granted = await store.lease(LeaseRequest(queue, actor, limit, lease_for, types))
    answered = time.monotonic()
    for task in granted:
        assert task.lease is not None
        history.add(
            Event(
                "grant",
                str(task.id),
                actor,
                True,
                task.lease.token,
                task.lease.epoch,
                at=task.lease.expires_at - lease_for,
                expires_at=task.lease.expires_at,
                state=task.state.value,
                sent=sent,
                answered=answered,
            )
        )
    return granted


async def _act(
    store: TaskStore,
    task: Task,
    actor: str,
    history: History,
    rng: random.Random,
    stale: list[tuple[Task, str]],
    lease_for: timedelta,
) -> None:
    assert task.lease is not None
    token = task.lease.token
    roll = rng.random()
    if roll < 0.10:  # hangs past its lease; reports much later with the stale token
        stale.append((task, token))
        return
    if roll < 0.25:
        await call(store, "heartbeat", task, token, actor, history, lease_for)
    elif roll < 0.30:  # the lease runs out mid-task; the late result must be refused
        await asyncio.sleep(lease_for.total_seconds() * 1.1)
    op = rng.choices(("complete", "retry", "fail", "release"), (60, 25, 5, 10))[0]
    await call(store, op, task, token, actor, history, lease_for)


async def call(
    store: TaskStore,
    op: str,
    task: Task,
    token: str,
    actor: str,
    history: History,
    lease_for: timedelta,
) -> None:
    """One fenced call, written down with its answer."""
    epoch = task.lease.epoch if task.lease else None
    sent = time.monotonic()
    try:
        if op == "heartbeat":
            after = await store.heartbeat(task.id, token, lease_for=lease_for)
        elif op == "complete":
            after = await store.complete(task.id, token, {"by": actor})
        elif op == "retry":
            after = await store.retry(task.id, token, "try again", delay=timedelta(0))
        elif op == "fail":
            after = await store.fail(task.id, token, "fatal")
        else:
            after = await store.release(task.id, token)
    except DomainError as refusal:
        history.add(
            Event(
                op,
                str(task.id),
                actor,
                False,
                token,
                epoch,
                error=refusal.code,
                sent=sent,
                answered=time.monotonic(),
            )
        )
        return
    if op == "heartbeat":
        assert after.lease is not None
        at, expires = after.lease.expires_at - lease_for, after.lease.expires_at
    else:
        at, expires = after.updated_at, None
    history.add(
        Event(
            op,
            str(task.id),
            actor,
            True,
            token,
            epoch,
            at,
            expires,
            after.state.value,
            sent=sent,
            answered=time.monotonic(),
        )
    )


async def sweep(store: TaskStore, stop: asyncio.Event) -> None:
    """The expiry sweep, as the service runs it."""
    while not stop.is_set():
        await store.expire_due(limit=100)
        await asyncio.sleep(0.05)


async def drain(store: TaskStore, queue: str, history: History, *, timeout: float = 30) -> None:
    """Finish whatever the hammering left: lease and complete until nothing is open."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        await store.expire_due(limit=1000)
        stats = await store.stats(queue)
        still_open = sum(stats[0].counts[s] for s in (TaskState.PENDING, TaskState.LEASED))
        if not stats or still_open == 0:
            return
        granted = await lease(store, queue, "drainer", 100, LEASE_FOR, history)
        for task in granted:
            assert task.lease is not None
            await call(store, "complete", task, task.lease.token, "drainer", history, LEASE_FOR)
        if not granted:
            await asyncio.sleep(0.05)
    raise AssertionError(f"tasks still open after {timeout} s of draining")


async def race_in_one_loop(
    store: TaskStore, *, tasks: int, workers: int, seconds: float
) -> History:
    """Enqueue, let `workers` asyncio workers hammer the store, drain, record the ends."""
    history = History()
    task_ids = await enqueue_tasks(store, "race", tasks, history)
    stop = asyncio.Event()
    sweeper = asyncio.create_task(sweep(store, stop))
    deadline = asyncio.get_running_loop().time() + seconds
    await asyncio.gather(
        *(
            worker(store, "race", f"w{n}", history, random.Random(n), deadline=deadline)
            for n in range(workers)
        )
    )
    await drain(store, "race", history)
    stop.set()
    await sweeper
    await record_final_states(store, task_ids, history)
    return history


async def record_final_states(store: TaskStore, task_ids: list[str], history: History) -> None:
    """Record where each task ended."""
    for task_id in task_ids:
        task = await store.get(UUID(task_id))
        history.add(Event("final", task_id, "checker", True, state=task.state.value))
