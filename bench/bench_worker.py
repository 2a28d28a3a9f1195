"""A benchmark worker process: an SDK Worker over HTTP with a no-op handler.

    bench_worker.py --url http://127.0.0.1:8000 --concurrency 10 --mode throughput
    bench_worker.py --url ... --mode latency --outfile lat.txt --n 200

Prints READY once imported and connected, then waits for `go` on stdin (throughput) or
starts at once (latency). Throughput mode answers `handled` with the number of handler
starts, `stats` with a JSON line (handled, perf_counter of the last handler start), and
stops on `stop`. Latency mode writes
"i perf_counter" per handler start and exits after n tasks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from typing import Any

from leaseq.sdk import Client, TaskContext, Worker, event_loop

QUEUE = "bench"


def _ride_option() -> dict[str, Any]:
    """LEASEQ_BENCH_RIDE=0: results in their own report calls (the A/B of ADR 0033); unset:
    the SDK's default (an SDK that predates the option is not given it)."""
    ride = os.environ.get("LEASEQ_BENCH_RIDE")
    return {} if ride is None else {"results_on_lease": ride != "0"}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--concurrency", type=int, default=10)
    ap.add_argument("--mode", choices=["throughput", "latency"], default="throughput")
    ap.add_argument("--wait-seconds", type=float, default=5.0)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--outfile")
    ap.add_argument("--prefetch", type=int, default=None)
    args = ap.parse_args()
    if os.environ.get("LEASEQ_BENCH_STAGES"):  # bench-only stage timestamps
        import stage_hooks

        stage_hooks.install_worker()
    logging.basicConfig(level=logging.WARNING)
    loop = asyncio.get_running_loop()
    handled = 0
    last = 0.0
    done = asyncio.Event()
    out = open(args.outfile, "w") if args.outfile else None  # noqa: SIM115, ASYNC230

    async with Client(args.url, timeout=30.0) as client:
        worker = Worker(
            client,
            queue=QUEUE,
            concurrency=args.concurrency,
            wait_seconds=args.wait_seconds,
            grace_seconds=5.0,
            **({} if args.prefetch is None else {"prefetch": args.prefetch}),
            **_ride_option(),
        )

        @worker.handler("noop")
        async def noop(ctx: TaskContext, payload: Any) -> None:
            nonlocal handled, last
            last = time.perf_counter()
            handled += 1
            if out is not None:
                out.write(f"{payload['i']} {last:.6f}\n")
                out.flush()
                if handled >= args.n:
                    done.set()

        await client.stats(QUEUE)  # connected and answering
        print("READY", flush=True)
        if args.mode == "throughput":
            command = await loop.run_in_executor(None, sys.stdin.readline)
            assert command.strip() == "go", command
        running = asyncio.create_task(worker.run(install_signal_handlers=False))
        if args.mode == "latency":
            await done.wait()
        else:
            while True:
                command = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
                if command == "stats":
                    claims = getattr(worker, "claim_sizes", None) or [0]  # older SDKs: none
                    reports = worker.reporter.batch_sizes if worker.reporter else [0]
                    stats = {
                        "handled": handled,
                        "t_last": last,
                        "mean_claim": sum(claims) / len(claims),
                        "mean_report": sum(reports) / max(1, len(reports)),
                    }
                    print(json.dumps(stats), flush=True)
                elif command == "handled":  # the bench's cheap "are we there yet"
                    print(handled, flush=True)
                elif command in ("stop", ""):
                    break
        worker.stop()
        await running


if __name__ == "__main__":
    event_loop.run(main())  # as `leaseq worker` runs one: uvloop when installed
