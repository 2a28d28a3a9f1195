"""SDK `Worker` processes for the fault tests, and the side effects their handlers leave.

Each process runs a real `leaseq.sdk.Worker` over HTTP (through `RecordingTransport`, so
its lease calls land in an event history) with a handler that appends `start` and `done`
lines to an effects file and returns `{"worker", "epoch"}` as the task's result. The
test then judges the run from the data: the database's final states and results, the
effects files, and the history.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.concurrency.processes import SPAWN_CONTEXT as SPAWN


@dataclass(frozen=True)
class WorkerPlan:
    name: str
    urls: tuple[str, ...]
    queue: str
    out_dir: str
    concurrency: int = 4
    lease_seconds: float = 2.0
    wait_seconds: float = 1.0
    work_seconds: float = 0.05
    fail_attempts: int = 0  # the handler raises Retry on attempts up to this one
    retry_delay: float = 0.0

    @property
    def events_path(self) -> Path:
        return Path(self.out_dir) / f"events-{self.name}.jsonl"

    @property
    def effects_path(self) -> Path:
        return Path(self.out_dir) / f"effects-{self.name}.jsonl"


def _main(plan: WorkerPlan) -> None:
    asyncio.run(_run(plan))


async def _run(plan: WorkerPlan) -> None:
    from leaseq.sdk import Retry, TaskContext, Worker
    from leaseq.sdk.transport.http import HttpTransport
    from tests.concurrency.recording import EventLog, RecordingTransport

    log = EventLog(plan.events_path)
    effects = plan.effects_path.open("a", buffering=1)
    transport = RecordingTransport(
        HttpTransport(list(plan.urls) if len(plan.urls) > 1 else plan.urls[0]), plan.name, log
    )
    worker = Worker(
        transport,  # type: ignore[arg-type]
        queue=plan.queue,
        concurrency=plan.concurrency,
        lease_seconds=plan.lease_seconds,
        wait_seconds=plan.wait_seconds,
        grace_seconds=5,
        worker_id=plan.name,
    )

    def effect(ctx: TaskContext, phase: str) -> None:
        line = {"task": str(ctx.task_id), "epoch": ctx.epoch, "worker": plan.name, "phase": phase}
        effects.write(json.dumps(line) + "\n")

    @worker.handler("job")
    async def job(ctx: TaskContext, payload: Any) -> dict[str, Any]:
        effect(ctx, "start")
        await asyncio.sleep(plan.work_seconds)
        if ctx.attempt <= plan.fail_attempts:
            effect(ctx, "retry")
            raise Retry("planned failure", delay=plan.retry_delay)
        effect(ctx, "done")
        return {"worker": plan.name, "epoch": ctx.epoch}

    try:
        await worker.run()
    finally:
        await transport.aclose()
        log.close()
        effects.close()


class WorkerProcess:
    """A spawned worker process; signals go to its own PID only."""

    def __init__(self, plan: WorkerPlan) -> None:
        self.plan = plan
        self.process = SPAWN.Process(target=_main, args=(plan,), name=plan.name)
        self.process.start()

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def signal(self, sig: signal.Signals) -> None:
        if self.process.is_alive():
            if sig in (signal.SIGKILL, signal.SIGSTOP):
                self._fault(sig.name)
            os.kill(self.pid, sig)

    def _fault(self, what: str) -> None:
        """Written down before the signal: the checker excuses the grants this worker
        then loses (`lost-grant`), and only this worker's."""
        from tests.concurrency.history import Event
        from tests.concurrency.recording import EventLog

        log = EventLog(Path(self.plan.out_dir) / "events-harness.jsonl")
        try:
            log.add(Event("fault", "", self.plan.name, True, error=what))
        finally:
            log.close()

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.process.join(10)

    def stop(self, timeout: float = 20) -> None:
        """SIGCONT (in case it is paused) and SIGTERM: the worker's graceful shutdown."""
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        self.process.join(timeout)
        if self.process.is_alive():
            self.kill()

    def started_tasks(self) -> list[dict[str, Any]]:
        return read_effects([self.plan.effects_path], phase="start")


def read_effects(paths: list[Path], phase: str | None = None) -> list[dict[str, Any]]:
    lines = []
    for path in paths:
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    lines.append(json.loads(line))
                except ValueError:
                    continue  # cut short by a SIGKILL
    return [line for line in lines if phase is None or line["phase"] == phase]
