"""Worker faults with real processes: SIGKILL mid-task (once, repeatedly), SIGSTOP past
the lease, and a retry storm; each judged from the data (judge.py).

`LEASEQ_SOAK_SECONDS` stretches the load of each scenario for soak runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.concurrency.judge import enqueue_jobs, judge
from tests.concurrency.processes import ServiceProcess, services, soak_seconds, wait_until
from tests.concurrency.sdk_workers import WorkerPlan, WorkerProcess, read_effects

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300 + 4 * soak_seconds(0))]


@contextlib.contextmanager
def workers(plans: list[WorkerPlan]) -> Iterator[list[WorkerProcess]]:
    """Started worker processes (more may be appended); every one stopped at the end."""
    started = [WorkerProcess(plan) for plan in plans]
    try:
        yield started
    finally:
        for worker in started:
            worker.stop()


def plan(service: ServiceProcess, out: Path, name: str, **options: object) -> WorkerPlan:
    return WorkerPlan(name, (service.url,), "faults", str(out), **options)  # type: ignore[arg-type]


async def wait_all_finished(
    url: str | tuple[str, ...], task_ids: list[str], timeout: float
) -> None:
    from leaseq.sdk import Client

    async with Client(url) as client:
        async with asyncio.timeout(timeout):
            while True:
                [stats] = await client.stats("faults")
                if stats.counts["pending"] + stats.counts["leased"] == 0:
                    return
                await asyncio.sleep(0.1)


async def test_a_worker_killed_mid_task_loses_nothing_and_survivors_finish_its_tasks(
    pg_migrated_url: str, tmp_path: Path
) -> None:
    with services(pg_migrated_url, tmp_path) as [service]:
        ids = await enqueue_jobs(service.url, "faults", 60)
        options = {"lease_seconds": 1.5, "work_seconds": 0.3}
        with workers([plan(service, tmp_path, f"w{n}", **options) for n in range(3)]) as running:
            victim = running[0]
            wait_until(lambda: victim.started_tasks(), timeout=60, what="the victim's first task")
            victim.kill()
            await wait_all_finished(service.url, ids, timeout=60)
        verdict = await judge(service.url, ids, tmp_path)
    assert verdict.violations == [], verdict.summary()
    killed = {e["task"] for e in victim.started_tasks()}
    others = read_effects([tmp_path / "effects-w1.jsonl", tmp_path / "effects-w2.jsonl"], "done")
    assert killed & {e["task"] for e in others}, "no task of the killed worker was redone"


async def test_workers_killed_again_and_again_lose_nothing(
    pg_migrated_url: str, tmp_path: Path
) -> None:
    seconds = soak_seconds(8)
    rng = random.Random(7)
    with services(pg_migrated_url, tmp_path) as [service]:
        ids = await enqueue_jobs(service.url, "faults", int(40 * seconds))
        options = {"lease_seconds": 1.0, "work_seconds": 0.1}
        names = iter(f"w{n}" for n in range(1000))
        with workers([plan(service, tmp_path, next(names), **options) for _ in range(3)]) as ws:
            kills = 0
            deadline = asyncio.get_running_loop().time() + seconds
            while asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(rng.uniform(0.5, 1.5))
                alive = [w for w in ws if w.process.is_alive()]
                busy = [w for w in alive if w.started_tasks()]
                if busy:
                    rng.choice(busy).kill()
                    kills += 1
                    ws.append(WorkerProcess(plan(service, tmp_path, next(names), **options)))
            await wait_all_finished(service.url, ids, timeout=120)
        verdict = await judge(service.url, ids, tmp_path)
    assert verdict.violations == [], verdict.summary()
    assert kills >= 3
    print(f"kills={kills} {verdict.summary()}")


async def test_a_paused_worker_past_its_lease_has_its_late_results_refused(
    pg_migrated_url: str, tmp_path: Path
) -> None:
    with services(pg_migrated_url, tmp_path) as [service]:
        ids = await enqueue_jobs(service.url, "faults", 8)
        # The handler ends before the first heartbeat is due, so the paused worker's
        # result is what it sends first after SIGCONT, and the service must refuse it.
        sleeper = plan(service, tmp_path, "paused", lease_seconds=1.5, work_seconds=0.3)
        with workers([sleeper]) as running:
            paused = running[0]
            wait_until(lambda: paused.started_tasks(), timeout=60, what="the first task")
            paused.signal(signal.SIGSTOP)
            held = {e["task"] for e in paused.started_tasks()}
            running.append(WorkerProcess(plan(service, tmp_path, "taker", work_seconds=0.05)))
            await wait_all_finished(service.url, ids, timeout=60)
            paused.signal(signal.SIGCONT)
            wait_until(lambda: _refused_reports(tmp_path) >= 1, timeout=30, what="the late report")
        verdict = await judge(service.url, ids, tmp_path)
    assert verdict.violations == [], verdict.summary()
    assert verdict.refusals["lease_expired"] + verdict.refusals["lease_lost"] >= 1
    taken = read_effects([tmp_path / "effects-taker.jsonl"], phase="done")
    assert held <= {e["task"] for e in taken}, "the new owner did not finish the held tasks"


def _refused_reports(out: Path) -> int:
    from tests.concurrency.recording import load_history

    events = load_history([out / "events-paused.jsonl"]).events
    return sum(1 for e in events if e.op == "complete" and not e.accepted)


async def test_a_retry_storm_gives_one_terminal_result_per_task(
    pg_migrated_url: str, tmp_path: Path
) -> None:
    tasks = int(20 * soak_seconds(10))
    with services(pg_migrated_url, tmp_path) as [service]:
        ids = await enqueue_jobs(service.url, "faults", tasks)
        options = {"fail_attempts": 3, "retry_delay": 0.0, "work_seconds": 0.0, "concurrency": 8}
        with workers([plan(service, tmp_path, f"w{n}", **options) for n in range(4)]):
            await wait_all_finished(service.url, ids, timeout=180)
        verdict = await judge(service.url, ids, tmp_path)
    assert verdict.violations == [], verdict.summary()
    assert verdict.executions >= 4 * tasks, "the storm did not retry every task"
