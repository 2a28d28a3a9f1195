"""py-spy profiles of the end-to-end HTTP workload: where the service and a worker spend
their CPU. Records both processes (`-f raw`, folded stacks) and prints the top frames.

    .venv/bin/python bench/profile_e2e.py --n 20000 --concurrency 50 --out /tmp/e2e
    # -> /tmp/e2e.service.raw, /tmp/e2e.worker.raw, and a summary on stdout

Needs py-spy in the virtualenv (`pip install py-spy`). Same database settings as
leaseq_bench.py (PEERBENCH_PGHOST/PORT/USER); LEASEQ_LOG_TRANSITIONS is passed on.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Service, WorkerProcess, fresh_database, settle
from leaseq_bench import _preload, _wait_done, _wait_handled


def spy(pid: int, out: str) -> subprocess.Popen[bytes]:
    py_spy = str(Path(sys.executable).with_name("py-spy"))
    command = [py_spy, "record", "-f", "raw", "-r", "250", "-o", out, "-p", str(pid)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def top(path: str, count: int = 25) -> list[tuple[float, str]]:
    """Share of samples by the innermost frame (self time), most first."""
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in Path(path).read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frame = stack.rsplit(";", 1)[-1]
        own[frame.split(" (")[0] + " " + frame.rsplit("/", 1)[-1].split(":")[0]] += int(n)
        total += int(n)
    return [(100 * n / max(total, 1), name) for name, n in own.most_common(count)]


async def main(args: argparse.Namespace) -> None:
    url = await fresh_database(args.db, "on")
    await _preload(url, args.n)
    await settle(url)
    service = Service(url)
    worker = None
    try:
        await service.ready()
        options = ["--url", service.base, "--concurrency", str(args.concurrency)]
        if args.prefetch is not None:
            options += ["--prefetch", str(args.prefetch)]
        worker = WorkerProcess(*options)
        if "READY" not in await worker.line():
            raise RuntimeError("the worker did not start")
        spies = [
            spy(service.pid, f"{args.out}.service.raw"),
            spy(worker.pid, f"{args.out}.worker.raw"),
        ]
        await asyncio.sleep(1.0)
        started = time.perf_counter()
        worker.send("go")
        await _wait_handled([worker], args.n, 600)
        await _wait_done(url, args.n, 60)
        print(f"{args.n / (time.perf_counter() - started):,.0f} tasks/s under py-spy")
        worker.send("stop")
    finally:
        if worker is not None:
            worker.stop()
        service.stop()
    for process in spies:
        process.wait(30)
    for name in ("service", "worker"):
        print(f"\n{name}: self time by frame")
        for share, frame in top(f"{args.out}.{name}.raw"):
            print(f"{share:5.1f}%  {frame}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--prefetch", type=int, default=None)
    ap.add_argument("--db", default="leaseq_profile")
    ap.add_argument("--out", default="/tmp/leaseq-e2e")
    asyncio.run(main(ap.parse_args()))
