"""leaseq benchmarks, one JSON line per measurement (field names as the peer harness).

    python bench/leaseq_bench.py --only enqueue throughput inprocess latency --runs 1

Measurements (each on a freshly created, migrated database):
  enqueue     N tasks, one per call and in batches of 100 / 1000, through HTTP (SDK Client
              against a `leaseq serve` child process) and through the store directly; and
              one per call in the producer's own transaction (`--transports sql`:
              `enqueue_tx` on an asyncpg connection, the `leaseq_enqueue_result` SQL
              function, ADR 0027). Like the peers' enqueue, nothing LISTENs to the
              wake-ups; `--sql-listened` runs a `leaseq serve` beside, as a deployment
              has (its CPU counted).
  throughput  N no-op tasks queued up front (untimed), then W worker processes (SDK Worker
              over HTTP, concurrency c each) against one `leaseq serve`; timed until the
              database shows all N succeeded. With `--sdks python go` (the default) each
              run is measured with the Python SDK's worker and then the Go SDK's
              (clients/go, built with `go build`; rows marked "sdk": "go"; their
              mean_claim/report_batch are tasks per lease/report request, the Python
              rows' the sizes asked for and sent).
  inprocess   the same workload with the worker, TaskService and PostgresTaskStore in this
              one process (InProcessTransport): what HTTP costs.
  latency     a worker process (c=10, long polling) idles 3 s; 200 tasks are enqueued one
              per call through the SDK, 20 ms apart; latency = handler start - enqueue return.
CPU: this process + service + worker processes (py_*), the PostgreSQL cluster (pg_*), and
per 1,000 tasks (py_cpu_s_per_1k, pg_cpu_s_per_1k).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from typing import Any

import asyncpg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (
    CpuMeter,
    Service,
    WalMeter,
    WorkerProcess,
    build_go_worker,
    emit,
    enqueue_in_order,
    find_postmaster,
    fresh_database,
    pct,
    rss_mib,
    settle,
)

from leaseq.adapters.postgres import PostgresNotifier, PostgresTaskStore, open_postgres_store
from leaseq.adapters.system import RandomJitter
from leaseq.app.services import LongPoll, TaskService
from leaseq.domain import TaskSpec
from leaseq.sdk import Client, TaskContext, Worker
from leaseq.sdk.transactional import enqueue_tx
from leaseq.sdk.transport.inprocess import InProcessTransport
from leaseq.sdk.types import TaskRequest

# --db (or LEASEQ_BENCH_DB) overrides: several people share one cluster
DB = os.environ.get("LEASEQ_BENCH_DB", "leaseq_bench")
QUEUE = "bench"
DONE_SQL = "SELECT count(*) FROM leaseq_tasks WHERE state = 'succeeded'"


def _spec(i: int) -> TaskSpec:
    return TaskSpec(queue=QUEUE, type="noop", payload={"i": i})


async def _preload(url: str, n: int) -> None:
    store = await open_postgres_store(url, pool_size=2)
    try:
        for start in range(0, n, 1000):
            await store.enqueue([_spec(i) for i in range(start, min(n, start + 1000))])
    finally:
        await store.close()


async def _count(url: str, sql: str = "SELECT count(*) FROM leaseq_tasks") -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


# -- enqueue ---------------------------------------------------------------------------


async def m_enqueue(args: argparse.Namespace, transport: str, batch: int) -> dict[str, Any]:
    url = await fresh_database(args.db, args.sync_commit)
    await settle(url)
    n = args.n
    service = None
    pids: list[int] = []
    conn: asyncpg.Connection | None = None
    client: Client | None = None
    store: PostgresTaskStore | None = None
    if transport == "http" or (transport == "sql" and args.sql_listened):
        service = Service(url)
        await service.ready()
        pids.append(service.pid)
    if transport == "sql":  # one task per statement, autocommit: its own transaction
        conn = sql = await asyncpg.connect(url)

        async def one(i: int) -> None:
            await enqueue_tx(sql, QUEUE, "noop", {"i": i})

        async def many(start: int, size: int) -> None:
            raise ValueError("enqueue_tx enqueues one task per call")
    elif transport == "http":
        assert service is not None
        client = http = Client(service.base)

        async def one(i: int) -> None:
            await http.enqueue(QUEUE, "noop", {"i": i})

        async def many(start: int, size: int) -> None:
            await http.enqueue_many(
                [TaskRequest(QUEUE, "noop", {"i": i}) for i in range(start, start + size)]
            )
    else:
        store = direct = await open_postgres_store(url)

        async def one(i: int) -> None:
            await direct.enqueue([_spec(i)])

        async def many(start: int, size: int) -> None:
            await direct.enqueue([_spec(i) for i in range(start, start + size)])

    try:
        wal = await WalMeter(url).start()
        meter = CpuMeter(pids, ["service"] if service else None).start()
        await enqueue_in_order(n, batch, one, many)
        cpu = meter.stop(n)
        await wal.end()
        rss = rss_mib(service.pid) if service else None
    finally:
        if conn is not None:
            await conn.close()
        if client is not None:
            await client.aclose()
        if service is not None:
            service.stop()
        if store is not None:
            await store.close()
    cpu |= await wal.result(n)
    return {
        "measure": "enqueue",
        "transport": "sql-listened" if transport == "sql" and args.sql_listened else transport,
        "mode": "single" if batch == 1 else "batch",
        "batch": batch,
        "n": n,
        "jobs_per_s": round(n / cpu["wall_s"], 1),
        "verified_rows": await _count(url),
        "service_rss_mib": rss,
        **cpu,
    }


# -- throughput ------------------------------------------------------------------------


async def _wait_handled(procs: list[WorkerProcess], n: int, timeout: float) -> None:
    """Until the worker processes' handlers have started n tasks (asked over their stdin,
    every 10 ms). As in the peers' harness, the database is polled only after that: its
    count(*) over the task table is a scan, and polling it all along would load the server
    under measurement (a quarter of a core at c=10) in leaseq's runs only."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        total = 0
        for p in procs:
            p.send("handled")
            answer = await p.line()
            if not answer:
                raise RuntimeError("a worker process exited during the run")
            total += int(answer)
        if total >= n:
            return
        await asyncio.sleep(0.01)


async def _wait_done(url: str, n: int, timeout: float) -> tuple[int, float]:
    """Until the database shows n tasks succeeded (polled every 10 ms, as the peers' harness
    does once their handlers have run)."""
    conn = await asyncpg.connect(url)
    try:
        deadline = time.perf_counter() + timeout
        done = 0
        while time.perf_counter() < deadline:
            done = int(await conn.fetchval(DONE_SQL))
            if done >= n:
                break
            await asyncio.sleep(0.01)
        return done, time.perf_counter()
    finally:
        await conn.close()


def _throughput(
    transport: str,
    workers: int,
    c: int,
    prefetch: int | None,
    n: int,
    handled: int,
    done: int,
    t_db: float,
    t_handlers: float,
) -> dict[str, Any]:
    """The fields every end-to-end measurement reports, as the peers' harness names them."""
    return {
        "measure": "throughput",
        "transport": transport,
        "workers": workers,
        "concurrency": c,
        "prefetch": prefetch,
        "n": n,
        "handled": handled,
        "db_done": done,
        "db_done_s": round(t_db, 3),
        "handlers_s": round(t_handlers, 3),
        "jobs_per_s": round(n / t_db, 1),
        "jobs_per_s_handlers": round(n / max(t_handlers, 1e-9), 1),
    }


def _prefetch(value: str | None, c: int) -> int | None:
    """`--prefetch` values: a number, or `c` for the run's concurrency; None: the SDK's."""
    if value is None or value == "none":
        return None
    return c if value == "c" else int(value)


async def m_throughput(
    args: argparse.Namespace, workers: int, c: int, prefetch: int | None, sdk: str = "python"
) -> dict[str, Any]:
    url = await fresh_database(args.db, args.sync_commit)
    await _preload(url, args.n)
    await settle(url)
    service = Service(url)
    procs: list[WorkerProcess] = []
    command = [_go_worker()] if sdk == "go" else None
    try:
        await service.ready()
        options = ["--url", service.base, "--concurrency", str(c)]
        if prefetch is not None:  # (older SDKs have no prefetch: leave it out)
            # (Go's Prefetch: 0 is automatic, negative none; Python's None and 0.)
            options += ["--prefetch", str(-1 if sdk == "go" and prefetch == 0 else prefetch)]
        procs = [WorkerProcess(*options, command=command) for _ in range(workers)]
        for p in procs:
            line = await p.line()
            if "READY" not in line:
                raise RuntimeError(f"worker failed to start: {line!r}")
        wal = await WalMeter(url).start()
        meter = CpuMeter(
            [service.pid, *(p.pid for p in procs)],
            ["service", *(f"worker{i + 1}" for i in range(len(procs)))],
        ).start()
        t0 = time.perf_counter()
        for p in procs:
            p.send("go")
        await _wait_handled(procs, args.n, args.timeout)
        done, t_done = await _wait_done(url, args.n, 60.0)
        cpu = meter.stop(args.n)
        await wal.end()
        rss = {"service_rss_mib": rss_mib(service.pid), "worker_rss_mib": rss_mib(procs[0].pid)}
        handled, t_last, claim, report = 0, t0, [], []
        for p in procs:
            p.send("stats")
            stats = json.loads(await p.line())
            handled += stats["handled"]
            t_last = max(t_last, stats["t_last"])
            claim.append(round(stats["mean_claim"], 1))
            report.append(round(stats["mean_report"], 1))
            p.send("stop")
    finally:
        for p in procs:
            p.stop()
        service.stop()
    cpu |= await wal.result(args.n)
    return {
        **_throughput(
            "http", workers, c, prefetch, args.n, handled, done, t_done - t0, t_last - t0
        ),
        "mean_claim_batch": claim,
        "mean_report_batch": report,
        "sdk": sdk,
        **rss,
        **cpu,
    }


_GO_WORKER: list[str] = []


def _go_worker() -> str:
    """The Go SDK's bench worker, built once per run (its build is not timed)."""
    if not _GO_WORKER:
        _GO_WORKER.append(build_go_worker(tempfile.mkdtemp(prefix="leaseq-bench-go-")))
    return _GO_WORKER[0]


async def m_inprocess(args: argparse.Namespace, c: int, prefetch: int | None) -> dict[str, Any]:
    url = await fresh_database(args.db, args.sync_commit)
    await _preload(url, args.n)
    await settle(url)
    store = await open_postgres_store(url)
    notifier = PostgresNotifier(url)
    await notifier.start()
    service = TaskService(store, notifier, RandomJitter(), LongPoll())
    client = Client(InProcessTransport(service))
    extra: dict[str, Any] = {} if prefetch is None else {"prefetch": prefetch}
    ride = os.environ.get("LEASEQ_BENCH_RIDE")  # as bench_worker.py reads it
    if ride is not None:
        extra["results_on_lease"] = ride != "0"
    worker = Worker(
        client, queue=QUEUE, concurrency=c, wait_seconds=5.0, grace_seconds=5.0, **extra
    )
    handled, last = 0, 0.0
    all_handled = asyncio.Event()

    @worker.handler("noop")
    async def noop(ctx: TaskContext, payload: Any) -> None:
        nonlocal handled, last
        last = time.perf_counter()
        handled += 1
        if handled >= args.n:
            all_handled.set()

    try:
        wal = await WalMeter(url).start()
        meter = CpuMeter().start()
        t0 = time.perf_counter()
        running = asyncio.create_task(worker.run(install_signal_handlers=False))
        waiter = asyncio.create_task(all_handled.wait())
        await asyncio.wait(
            [running, waiter], timeout=args.timeout, return_when=asyncio.FIRST_COMPLETED
        )
        waiter.cancel()
        if running.done():
            running.result()  # the worker stopped early: its error, not a timeout
        done, t_done = await _wait_done(url, args.n, 60.0)
        cpu = meter.stop(args.n)
        await wal.end()
        worker.stop()
        await running
    finally:
        await service.close()
        await notifier.close()
        await store.close()
    cpu |= await wal.result(args.n)
    return {
        **_throughput("inprocess", 1, c, prefetch, args.n, handled, done, t_done - t0, last - t0),
        "mean_claim_batch": [round(statistics.mean(worker.claim_sizes or [0]), 1)],
        "mean_report_batch": [
            round(
                statistics.mean((worker.reporter.batch_sizes if worker.reporter else []) or [0]), 1
            )
        ],
        "process_rss_mib": rss_mib(os.getpid()),
        **cpu,
    }


# -- latency ---------------------------------------------------------------------------


async def m_latency(args: argparse.Namespace) -> dict[str, Any]:
    url = await fresh_database(args.db, args.sync_commit)
    await settle(url)
    service = Service(url)
    outfile = os.path.join(tempfile.gettempdir(), f"leaseq_lat_{os.getpid()}.txt")
    worker = None
    n = args.latency_n
    try:
        await service.ready()
        worker = WorkerProcess(
            "--url", service.base, "--concurrency", "10", "--mode", "latency",
            "--wait-seconds", "10", "--n", str(n), "--outfile", outfile,
        )  # fmt: skip
        if "READY" not in await worker.line():
            raise RuntimeError("latency worker failed to start")
        await asyncio.sleep(args.settle)
        returned: dict[int, float] = {}
        called: dict[int, float] = {}
        async with Client(service.base) as client:
            await client.stats(QUEUE)  # warm the connection, as the peers' producers are
            meter = CpuMeter([service.pid, worker.pid], ["service", "worker"]).start()
            t_start = time.perf_counter()
            for i in range(n):
                target = t_start + i * args.interval
                now = time.perf_counter()
                if target > now:
                    await asyncio.sleep(target - now)
                called[i] = time.perf_counter()
                await client.enqueue(QUEUE, "noop", {"i": i})
                returned[i] = time.perf_counter()
            rc = await asyncio.to_thread(worker.proc.wait, args.timeout)
            cpu = meter.stop(n)
    finally:
        if worker is not None:
            worker.stop()
        service.stop()
    starts: dict[int, float] = {}
    with open(outfile) as f:  # noqa: ASYNC230
        for line in f:
            i, t = line.split()
            starts[int(i)] = float(t)
    os.unlink(outfile)
    stages = os.environ.get("LEASEQ_BENCH_STAGES")
    if stages:  # the bench's own side of the stage timestamps (bench/stage_hooks.py)
        with open(f"{stages}.bench.{os.getpid()}", "w") as f:  # noqa: ASYNC230
            for i in returned:
                f.write(f"bench_enq_call {i} {called[i]:.6f}\n")
                f.write(f"bench_enq_ret {i} {returned[i]:.6f}\n")
                if i in starts:
                    f.write(f"wk_handler {i} {starts[i]:.6f}\n")
    lats = [(starts[i] - returned[i]) * 1000 for i in returned if i in starts]
    return {
        "measure": "latency",
        "transport": "http",
        "concurrency": 10,
        "n": n,
        "received": len(lats),
        "interval_ms": args.interval * 1000,
        "p50_ms": _r(pct(lats, 50)),
        "p95_ms": _r(pct(lats, 95)),
        "p99_ms": _r(pct(lats, 99)),
        "max_ms": _r(max(lats) if lats else None),
        "min_ms": _r(min(lats) if lats else None),
        "mean_ms": _r(statistics.mean(lats) if lats else None),
        "listen_notify": "yes: enqueue NOTIFYs leaseq_wakeup; the service LISTENs and wakes "
        "long-polling lease requests (wait_seconds=10); fallback poll 1 s",
        "worker_rc": rc,
        **cpu,
    }


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


# -- driver ----------------------------------------------------------------------------


def _plan(args: argparse.Namespace) -> list[tuple[str, Callable[[], Awaitable[dict[str, Any]]]]]:
    todo: list[tuple[str, Callable[[], Awaitable[dict[str, Any]]]]] = []
    if "enqueue" in args.only:
        for transport in args.transports:
            for batch in (1,) if transport == "sql" else (1, 100, 1000):
                todo.append(("enqueue", lambda t=transport, b=batch: m_enqueue(args, t, b)))
    if "throughput" in args.only:
        for w in args.workers:
            for c in args.concurrency:
                for value in args.prefetch:
                    f = _prefetch(value, c)
                    for sdk in args.sdks:
                        measure = lambda w=w, c=c, f=f, sdk=sdk: m_throughput(args, w, c, f, sdk)  # noqa: E731
                        todo.append(("throughput", measure))
    if "inprocess" in args.only:
        for c in args.inprocess_concurrency:
            for value in args.prefetch:
                f = _prefetch(value, c)
                todo.append(("throughput", lambda c=c, f=f: m_inprocess(args, c, f)))
    if "latency" in args.only:
        todo.append(("latency", lambda: m_latency(args)))
    return todo


async def run(args: argparse.Namespace) -> None:
    await find_postmaster()
    base = {
        "peer": "leaseq",
        "versions": {p: version(p) for p in ("leaseq", "asyncpg", "fastapi", "uvicorn")},
        "python": platform.python_version(),
        "synchronous_commit": args.sync_commit,
        "log_transitions": os.environ["LEASEQ_LOG_TRANSITIONS"],
        "label": args.label,
    }
    for run_number in range(1, args.runs + 1):
        for name, fn in _plan(args):
            try:
                record = await fn()
            except Exception as error:
                traceback.print_exc(file=sys.stderr)
                record = {"measure": name, "error": repr(error)[:300]}
            emit({**base, "run": args.run_index or run_number, **record})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--run-index", type=int, default=None)
    ap.add_argument("--only", nargs="*", default=["enqueue", "throughput", "inprocess", "latency"])
    ap.add_argument("--transports", nargs="*", default=["http", "store", "sql"])
    ap.add_argument("--sql-listened", action="store_true", help="a service LISTENs (sql)")
    ap.add_argument("--concurrency", type=int, nargs="*", default=[10, 50])
    ap.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--inprocess-concurrency", type=int, nargs="*", default=[10, 50, 100])
    ap.add_argument("--latency-n", type=int, default=200)
    ap.add_argument("--interval", type=float, default=0.020)
    ap.add_argument("--settle", type=float, default=3.0)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--sync-commit", default="on", choices=["on", "off"])
    ap.add_argument("--db", default=DB, help="database name (dropped and re-created)")
    ap.add_argument(
        "--prefetch",
        nargs="*",
        default=[None],
        help="Worker(prefetch=) values: numbers, or c (= the concurrency); none: SDK default",
    )
    ap.add_argument(
        "--sdks",
        nargs="*",
        default=["python", "go"],
        choices=["python", "go"],
        help="whose worker the throughput runs use: the Python SDK's, the Go SDK's (clients/go)",
    )
    ap.add_argument("--label", default=None, help="recorded in each JSON line")
    # The service child inherits it. `notable`: no log line for the routine transitions
    # of each task (as no peer logs per job); `all` is leaseq's default (ADR 0012).
    ap.add_argument("--log-transitions", default="notable", choices=["all", "notable", "none"])
    args = ap.parse_args()
    os.environ["LEASEQ_LOG_TRANSITIONS"] = args.log_transitions
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
