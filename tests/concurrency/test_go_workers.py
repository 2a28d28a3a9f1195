"""Go SDK workers beside Python ones on one service, judged by the race suite's checker:
one live owner at a time, nothing lost, one accepted result per task from the newest
lease, while a Go worker is killed mid-task and another is paused past its leases."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.concurrency.go_workers import GoWorkerProcess, build_raceworker
from tests.concurrency.judge import enqueue_jobs, judge
from tests.concurrency.processes import services, wait_until
from tests.concurrency.recording import load_history
from tests.concurrency.sdk_workers import WorkerPlan, WorkerProcess, read_effects
from tests.concurrency.test_worker_faults import wait_all_finished

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]


def _started(worker: GoWorkerProcess) -> set[str]:
    return {e["task"] for e in read_effects([worker.effects_path], "start")}


async def test_go_and_python_workers_share_a_queue_with_one_live_owner_and_nothing_lost(
    pg_migrated_url: str, tmp_path: Path
) -> None:
    binary = build_raceworker(tmp_path)
    out = tmp_path / "run"
    out.mkdir()
    with services(pg_migrated_url, tmp_path) as [service]:
        ids = await enqueue_jobs(service.url, "faults", 160)
        options = {"lease_seconds": 1.5, "work_seconds": 0.2}
        go_options = {**options, "work_seconds": 0.6}  # long enough to heartbeat
        go = [
            GoWorkerProcess(binary, service.url, "faults", f"go{n}", out, **go_options)  # type: ignore[arg-type]
            for n in range(3)
        ]
        python = [
            WorkerProcess(WorkerPlan(f"py{n}", (service.url,), "faults", str(out), **options))  # type: ignore[arg-type]
            for n in range(2)
        ]
        try:
            killed, paused = go[0], go[1]
            wait_until(lambda: _started(killed), timeout=60, what="the killed worker's first task")
            killed.kill()
            wait_until(lambda: _started(paused), timeout=60, what="the paused worker's first task")
            paused.signal(signal.SIGSTOP)
            held = _started(paused)
            await wait_all_finished(service.url, ids, timeout=120)
            paused.signal(signal.SIGCONT)
            await wait_all_finished(service.url, ids, timeout=30)
        finally:
            codes = {w.name: w.stop() for w in go[1:]}
            for worker in python:
                worker.stop()
        verdict = await judge(service.url, ids, out)
    assert verdict.violations == [], verdict.summary()
    assert codes == {"go1": 0, "go2": 0}, "a Go worker did not shut down cleanly"
    done = read_effects(sorted(out.glob("effects-*.jsonl")), "done")
    assert {e["worker"] for e in done} >= {"go2", "py0", "py1"}, "a kind of worker did no work"
    redone = {e["task"] for e in done if e["worker"] != "go0"}
    assert _started(killed) & redone, "no task of the killed Go worker was redone"
    assert held <= {e["task"] for e in done if e["worker"] != "go1"}, "the paused worker's tasks"
    late = [
        e
        for e in load_history([paused.events_path]).events
        if e.op in ("complete", "retry", "fail") and not e.accepted
    ]
    assert late == [], "the paused Go worker reported results of leases it had lost"
    print(verdict.summary())
