"""Lost answers, through a real TCP proxy in front of a real service on PostgreSQL: the
SDK sends again only what is safe, and nothing is made twice, lost or left to expire.

The proxy (fault_proxy.py) drops answers after the service has acted on the request,
closes connections before passing requests on, delays them, and resets connections
halfway through an answer, on a fixed schedule.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from uuid import UUID

import pytest

from leaseq.sdk import Client
from tests.concurrency.fault_proxy import DROP_ANSWER, cycle, every, fault_proxy
from tests.concurrency.judge import judge
from tests.concurrency.processes import services
from tests.concurrency.sdk_workers import WorkerPlan, WorkerProcess
from tests.concurrency.test_worker_faults import wait_all_finished

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]

# Faults spread out, so that the few tries of one call do not all meet one: drop an
# answer, close before forwarding, reset halfway through an answer, delay.
MIXED = cycle("...D...C...R...S")


def _call(path: str, carried_results: bool) -> str:
    """The kind of call a request was: its path, its action for a task's, and a lease
    request that carried results (ADR 0033) apart from one that did not."""
    if path.startswith("/v1/tasks/"):
        return path.rsplit("/", 1)[-1]
    return f"{path}+results" if carried_results else path


async def count_tasks(url: str, queue: str) -> int:
    async with Client(url) as client:
        [stats] = await client.stats(queue)
    return sum(stats.counts.values())


async def test_enqueues_whose_every_third_answer_is_dropped_make_exactly_one_task_each(
    pg_migrated_url: str, tmp_path: Path
) -> None:
    with (
        services(pg_migrated_url, tmp_path) as [service],
        fault_proxy(service.url, every(3, DROP_ANSWER)) as proxy,
    ):
        async with Client(proxy.url) as client:
            answers = [await client.enqueue("drops", "job", {"i": i}) for i in range(300)]
        assert proxy.actions()[DROP_ANSWER] >= 100
        assert await count_tasks(service.url, "drops") == 300
    assert len({a.id for a in answers}) == 300
    assert sum(a.deduplicated for a in answers) >= 100  # each dropped answer, sent again


async def test_a_worker_behind_a_faulty_proxy_finishes_every_task_once_and_lets_none_expire(
    pg_migrated_url: str, tmp_path: Path
) -> None:
    with services(pg_migrated_url, tmp_path) as [service], fault_proxy(service.url, MIXED) as proxy:
        async with Client(proxy.url) as client:
            ids = [str((await client.enqueue("faults", "job", {"i": i})).id) for i in range(120)]
        assert await count_tasks(service.url, "faults") == 120
        plan = WorkerPlan("w0", (proxy.url,), "faults", str(tmp_path), concurrency=4)
        worker = WorkerProcess(plan)
        try:
            await wait_all_finished(service.url, ids, timeout=120)
        finally:
            worker.stop()
        faulted = Counter(
            (_call(path, n in proxy.rides), action)
            for n, _, path, action in proxy.log
            if action != "forward"
        )
        verdict = await judge(service.url, ids, tmp_path)
        transitions = await service_history(service.url, ids)
    assert verdict.violations == [], verdict.summary()
    assert verdict.states == Counter({"succeeded": 120})
    # every report the worker sent was answered as applied (a repeat too): none refused
    assert set(verdict.refusals) <= {"unanswered"}, verdict.summary()
    # the worker's own calls met every kind of fault
    assert {path for path, _ in faulted} >= {"/v1/leases", "/v1/leases+results"}, faulted
    # in the service's own history: one completion per task, and no lease left to expire
    assert transitions["completed"] == 120, transitions
    assert transitions["expired"] == transitions["dead_lettered"] == 0, transitions
    assert transitions["leased"] == 120 + transitions["released"], transitions


async def service_history(url: str, ids: list[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    async with Client(url) as client:
        for task_id in ids:
            for event in await client.history(UUID(task_id)):
                counts[event.transition] += 1
    return counts
