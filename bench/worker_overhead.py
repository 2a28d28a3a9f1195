"""The SDK worker's own cost per task: the Worker against a stub transport that grants
leases and accepts reports at once (no service, no store, no PostgreSQL, no HTTP), N
no-op tasks, timed until all are reported.

    python bench/worker_overhead.py --n 20000 --concurrency 10 50 [--prefetch 50]

One JSON line per concurrency: jobs/s and CPU seconds per 1,000 tasks: all of it the SDK
worker's (compare runs of different SDK versions, e.g. main's .venv against a branch's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from leaseq.sdk import RetrySettings, TaskContext, Worker
from leaseq.sdk.types import LeaseInfo, LeaseRequest, Outcome, Reported, TaskInfo


class StubTransport:
    """Grants up to `n` leases in all and answers every report with `succeeded`."""

    def __init__(self, n: int) -> None:
        self.left = n
        self.reported = 0
        self.left_total = n
        self.all_reported = asyncio.Event()
        now = datetime.now(UTC)
        self._answer = TaskInfo(
            uuid.uuid4(), "bench", "noop", 1, None, {}, 0, now, 1, 3,
            RetrySettings(), None, "succeeded", 1, None, None, None, now, now, now,
        )  # fmt: skip
        self._now = now

    async def lease(self, request: LeaseRequest) -> list[LeaseInfo]:
        await asyncio.sleep(0)  # a round trip, however short
        k = min(request.max_tasks, self.left)
        self.left -= k
        return [
            LeaseInfo(
                uuid.uuid4(),
                "token",
                1,
                self._now,
                1,
                3,
                "bench",
                "noop",
                1,
                {"i": i},
                {},
                0,
                self._now,
            )
            for i in range(k)
        ]

    async def report(self, outcomes: Sequence[Outcome]) -> list[Reported]:
        await asyncio.sleep(0)
        return self._reported(outcomes)

    async def lease_and_report(
        self, request: LeaseRequest, outcomes: Sequence[Outcome]
    ) -> tuple[list[LeaseInfo], list[Reported]]:
        """The results ride on the lease request (ADR 0033): one round trip for both."""
        answers = self._reported(outcomes)
        return await self.lease(request), answers

    def _reported(self, outcomes: Sequence[Outcome]) -> list[Reported]:
        self.reported += len(outcomes)
        if self.reported >= self.left_total:
            self.all_reported.set()
        return [Reported(outcome.task_id, "succeeded", self._now) for outcome in outcomes]

    async def heartbeat(self, task_id: Any, token: str, lease_seconds: float) -> Any:
        raise AssertionError("no task lives long enough to need a heartbeat")

    async def release(self, task_id: Any, token: str) -> Any:
        return self._answer


async def measure(n: int, concurrency: int, prefetch: int | None) -> dict[str, Any]:
    transport = StubTransport(n)
    extra: dict[str, Any] = {} if prefetch is None else {"prefetch": prefetch}
    worker = Worker(
        transport,  # type: ignore[arg-type]
        queue="bench", concurrency=concurrency, wait_seconds=1.0, **extra,
    )  # fmt: skip

    @worker.handler("noop")
    async def noop(ctx: TaskContext, payload: Any) -> None:
        return None

    cpu0, t0 = time.process_time(), time.perf_counter()
    running = asyncio.create_task(worker.run(install_signal_handlers=False))
    await transport.all_reported.wait()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    worker.stop()
    await running
    return {
        "measure": "worker_overhead",
        "concurrency": concurrency,
        "prefetch": prefetch,
        "n": n,
        "jobs_per_s": round(n / wall, 1),
        "cpu_s_per_1k": round(1000 * cpu / n, 4),
    }


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, nargs="*", default=[10, 50])
    ap.add_argument("--prefetch", type=int, default=None)
    ap.add_argument("--label", default=None)
    args = ap.parse_args()
    for c in args.concurrency:
        record = await measure(args.n, c, args.prefetch)
        print(json.dumps({"label": args.label, **record}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
