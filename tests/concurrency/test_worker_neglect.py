"""A live worker never lets a task die of neglect: under CPU pressure, with short leases,
several worker processes and SIGKILLs, no task is leased by a worker that stays alive
and then left to expire without its handler starting; and every task completes.

Neglect is read from the service's own history: a lease that ran out (expired, or
dead-lettered by expiry) while the worker it was granted to was still alive is neglect
unless its handler ran to its end (effects-*.jsonl: task, epoch, worker; then it is a
lost report, which the judge and the proxy tests look for), whether or not the worker
ever read the answer that granted it. Long polls here may wait longer than a lease.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

import pytest

from leaseq.sdk import Client
from tests.concurrency.judge import enqueue_jobs, judge
from tests.concurrency.processes import SPAWN_CONTEXT, services
from tests.concurrency.sdk_workers import WorkerPlan, WorkerProcess, read_effects
from tests.concurrency.test_worker_faults import wait_all_finished

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(180)]

LEASE_SECONDS = 1.0
WAIT_SECONDS = 3.0  # long polls may answer after more than a lease
TASKS = 200
KILLING_SECONDS = 12.0


def _spin(until: float) -> None:
    while time.monotonic() < until:
        pass


@contextmanager
def cpu_pressure(seconds: float) -> Iterator[None]:
    """One busy-looping process per core, for at most `seconds`."""
    until = time.monotonic() + seconds
    spinners = [
        SPAWN_CONTEXT.Process(target=_spin, args=(until,), daemon=True)
        for _ in range(os.cpu_count() or 2)
    ]
    for spinner in spinners:
        spinner.start()
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.join(5)


def handler_runs(out_dir: Path) -> set[tuple[str, int, str]]:
    """(task, epoch, worker) of every handler run that finished."""
    effects = read_effects(sorted(out_dir.glob("effects-*.jsonl")), "done")
    return {(e["task"], e["epoch"], e["worker"]) for e in effects}


async def neglected(
    url: str, ids: list[str], runs: set[tuple[str, int, str]], killed: dict[str, float]
) -> list[str]:
    """Leases that ran out, in the service's own history, while the worker that held them
    was alive, and whose handler did not run to its end (`killed`: worker -> wall-clock
    second from which it was dead or stopped)."""
    found = []
    async with Client(url) as client:
        for task_id in ids:
            events = await client.history(UUID(task_id), limit=1000)
            granted = {(e.worker, e.epoch): e.at for e in events if e.transition == "leased"}
            for event in events:
                if event.transition not in ("expired", "dead_lettered") or event.worker is None:
                    continue
                at = granted.get((event.worker, event.epoch))
                if at is None or (task_id, event.epoch, event.worker) in runs:
                    continue
                runs_out = at.timestamp() + LEASE_SECONDS
                if killed.get(event.worker, float("inf")) > runs_out:
                    found.append(f"{event.worker} let {task_id} (epoch {event.epoch}) expire")
    return found


async def test_no_live_worker_lets_a_leased_task_expire_unstarted_under_cpu_pressure(
    pg_migrated_url: str, tmp_path: Path
) -> None:
    rng = random.Random(16)
    killed_at: dict[str, float] = {}
    with services(pg_migrated_url, tmp_path) as [service]:
        ids = await enqueue_jobs(service.url, "faults", TASKS)
        names = iter(f"w{n}" for n in range(1000))

        def plan() -> WorkerPlan:
            return WorkerPlan(
                next(names), (service.url,), "faults", str(tmp_path), concurrency=8,
                lease_seconds=LEASE_SECONDS, wait_seconds=WAIT_SECONDS, work_seconds=0.2,
            )  # fmt: skip

        workers = [WorkerProcess(plan()) for _ in range(3)]
        try:
            with cpu_pressure(KILLING_SECONDS + 30):
                async with Client(service.url) as producer:
                    deadline = time.monotonic() + KILLING_SECONDS
                    while time.monotonic() < deadline:
                        # a trickle of tasks, so long polls answer after waiting a while
                        for _ in range(rng.randint(1, 3)):
                            await asyncio.sleep(rng.uniform(0.2, 0.6))
                            task = await producer.enqueue("faults", "job", {"late": True})
                            ids.append(str(task.id))
                        busy = [w for w in workers if w.process.is_alive() and w.started_tasks()]
                        if busy:
                            victim = rng.choice(busy)
                            killed_at[victim.plan.name] = time.time()
                            victim.kill()
                            workers.append(WorkerProcess(plan()))
                await wait_all_finished(service.url, ids, timeout=60)
        finally:
            for worker in workers:
                if worker.plan.name not in killed_at:
                    killed_at[worker.plan.name] = time.time()  # stopped from here on
                worker.stop()
        verdict = await judge(service.url, ids, tmp_path)
        neglect = await neglected(service.url, ids, handler_runs(tmp_path), killed_at)
    assert len(killed_at) > 3, "no worker was killed"
    assert verdict.violations == [], verdict.summary()
    assert verdict.states["succeeded"] == len(ids), verdict.summary()
    assert neglect == [], verdict.summary()
