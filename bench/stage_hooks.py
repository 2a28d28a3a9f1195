"""Bench-only stage timestamps for the latency measurement (never imported by the product).

With LEASEQ_BENCH_STAGES=<prefix> set, `leaseq_bench.py --only latency` starts the
service through this module (`python stage_hooks.py serve ...`) and bench_worker.py
installs the worker's hooks; each process keeps (event, key, perf_counter) in memory and
writes `<prefix>.<role>.<pid>` at exit. `latency_stages.py` joins them per task.
The hooks wrap the product's methods from outside, so production code pays nothing.
"""

from __future__ import annotations

import atexit
import gc
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

EVENTS: list[tuple[str, int, float]] = []
_now = time.perf_counter


def record(event: str, key: int, t: float | None = None) -> None:
    EVENTS.append((event, key, _now() if t is None else t))


def _dump(role: str) -> None:
    prefix = os.environ["LEASEQ_BENCH_STAGES"]
    with open(f"{prefix}.{role}.{os.getpid()}", "w") as f:
        for event, key, t in EVENTS:
            f.write(f"{event} {key} {t:.6f}\n")


def _gc_callback(phase: str, info: dict[str, Any]) -> None:
    EVENTS.append((f"gc_{phase}", info["generation"], _now()))


def _key(payload: Any) -> int:
    return int(payload["i"]) if isinstance(payload, dict) and "i" in payload else -1


def install_common(role: str) -> None:
    gc.callbacks.append(_gc_callback)
    atexit.register(_dump, role)


def install_service() -> None:
    install_common("service")
    from leaseq.adapters.postgres import notifier as pg_notifier
    from leaseq.adapters.postgres.store import PostgresTaskStore
    from leaseq.app import long_poll
    from leaseq.app.services import TaskService

    def trace_enqueue(name: str, payloads: Callable[..., Any]) -> None:
        """Wrap TaskService.<name>: each task's arrival and answer, keyed by its payload."""
        original = getattr(TaskService, name)

        async def traced(self: Any, *args: Any) -> Any:
            t0 = _now()
            answers = await original(self, *args)
            t1 = _now()
            for payload in payloads(*args):
                record("svc_enq_in", _key(payload), t0)
                record("svc_enq_done", _key(payload), t1)
            return answers

        setattr(TaskService, name, traced)

    trace_enqueue("enqueue", lambda specs: [spec.payload for spec in specs])
    trace_enqueue("enqueue_each", lambda spec, payloads: payloads)
    # what the SDK sends: a key per task (ADR 0021), a batch of one too
    trace_enqueue("enqueue_keyed", lambda spec, payloads, keys: payloads)

    lease = PostgresTaskStore.lease

    async def traced_lease(self: Any, request: Any, **kw: Any) -> Any:
        t0 = _now()
        granted = await lease(self, request, **kw)
        t1 = _now()
        if not granted:
            record("svc_claim_empty", -1, t0)
        for task in granted:
            record("svc_claim_start", _key(task.payload), t0)
            record("svc_claim_end", _key(task.payload), t1)
        return granted

    PostgresTaskStore.lease = traced_lease  # type: ignore[method-assign]

    lease_timed = TaskService.lease_timed  # the HTTP lease route's call (ADR 0022)

    async def traced_lease_timed(self: Any, request: Any, *args: Any, **kw: Any) -> Any:
        granted, waited = await lease_timed(self, request, *args, **kw)
        t = _now()
        for task in granted:
            record("svc_lease_ret", _key(task.payload), t)
        return granted, waited

    TaskService.lease_timed = traced_lease_timed  # type: ignore[method-assign]

    on_notification = pg_notifier.PostgresNotifier._on_notification

    def traced_notification(self: Any, *args: Any) -> None:
        record("svc_notify", -1)
        on_notification(self, *args)

    pg_notifier.PostgresNotifier._on_notification = traced_notification  # type: ignore[method-assign]

    from leaseq.adapters.postgres import statements

    def traced_rows_factory() -> Any:
        seen: dict[int, int] = {}

        async def traced_rows(self: Any, statement: Any, params: Any) -> Any:
            positional = self._positional(statement)
            kind = 1 if "granted AS" in statement.text else 2 if "INSERT" in statement.text else 3
            t0 = _now()
            async with self._pool.acquire(timeout=statements.ACQUIRE_TIMEOUT) as conn:
                t1 = _now()
                cid = id(conn._con) if hasattr(conn, "_con") else id(conn)
                n = seen.setdefault(cid, len(seen))
                rows = await conn.fetch(positional.sql, *positional.args(params))
                t2 = _now()
            t3 = _now()
            # key: kind*1000 + connection number
            record("db_acq", kind * 1000 + n, t0)
            record("db_got", kind * 1000 + n, t1)
            record("db_rows", kind * 1000 + n, t2)
            record("db_rel", kind * 1000 + n, t3)
            return rows

        return traced_rows

    statements.StatementRunner.rows = traced_rows_factory()  # type: ignore[method-assign]

    give_turn = long_poll.Waiter.give_turn

    def traced_give_turn(self: Any) -> None:
        record("svc_give_turn", -1)
        give_turn(self)

    long_poll.Waiter.give_turn = traced_give_turn  # type: ignore[method-assign]


def install_worker() -> None:
    install_common("worker")
    from leaseq.sdk.transport.http import HttpTransport

    lease = HttpTransport.lease

    async def traced_lease(self: Any, request: Any) -> Any:
        t0 = _now()
        leases = await lease(self, request)
        t1 = _now()
        if not leases:
            record("wk_lease_empty", -1, t0)
        record("wk_lease_sent", -1, t0)
        for info in leases:
            record("wk_lease_recv", _key(info.payload), t1)
        return leases

    HttpTransport.lease = traced_lease  # type: ignore[method-assign]

    from leaseq.sdk.execution import Execution

    run = Execution.run

    async def traced_run(self: Any) -> None:
        record("wk_exec_run", _key(self.lease.payload))
        await run(self)

    Execution.run = traced_run  # type: ignore[method-assign]

    call = HttpTransport._call

    async def traced_call(self: Any, method: str, path: str, **kwargs: Any) -> Any:
        record("wk_http_start", len(path))
        answer = await call(self, method, path, **kwargs)
        record("wk_http_answer", len(path))
        return answer

    HttpTransport._call = traced_call  # type: ignore[method-assign]

    report = HttpTransport.report

    async def traced_report(self: Any, outcomes: Any) -> Any:
        record("wk_report_start", len(outcomes))
        try:
            return await report(self, outcomes)
        finally:
            record("wk_report_end", len(outcomes))

    HttpTransport.report = traced_report  # type: ignore[method-assign]


if __name__ == "__main__":  # the service: `stage_hooks.py serve ...` = `leaseq serve ...`
    install_service()
    # uvicorn exits through its own signal handling, so atexit runs; SIGTERM before
    # uvicorn installs its handler still exits cleanly.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    from leaseq.app.cli import main

    sys.argv[0] = "leaseq"
    main()
