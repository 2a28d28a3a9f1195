"""Shared parts of leaseq's benchmarks: fresh databases, CPU accounting, child processes.

The CPU accounting follows the peer harness (../shared/bench/peers/common.py) so the
numbers compare: CPU seconds of the Python processes (this one plus named child pids)
and of the whole PostgreSQL cluster (postmaster, reaped children, live children), over
the timed interval, with machine-wide steal and iowait as noise indicators.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

from leaseq.adapters.postgres import migrate

CLK_TCK = os.sysconf("SC_CLK_TCK")
HERE = Path(__file__).resolve().parent


def pg_base() -> str:
    host = os.environ.get("PEERBENCH_PGHOST", "127.0.0.1")
    port = os.environ.get("PEERBENCH_PGPORT", "5432")
    user = os.environ.get("PEERBENCH_PGUSER", "postgres")
    return f"postgresql://{user}@{host}:{port}"


def db_url(database: str) -> str:
    return f"{pg_base()}/{database}"


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record, sort_keys=True), flush=True)


# -- CPU -------------------------------------------------------------------------------


def _proc_stat(pid: int) -> tuple[int, int, int, int, int]:
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    rest = data[data.rindex(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(x) for x in rest[11:15])
    return int(rest[1]), utime, stime, cutime, cstime


def pid_cpu_seconds(pid: int) -> float | None:
    try:
        _, u, s, _, _ = _proc_stat(pid)
    except OSError:
        return None
    return (u + s) / CLK_TCK


def rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


_POSTMASTER: int | None = None


async def find_postmaster() -> int | None:
    """The cluster's postmaster pid, from postmaster.pid in its data directory."""
    global _POSTMASTER
    pgdata = os.environ.get("PEERBENCH_PGDATA")
    if not pgdata:
        conn = await asyncpg.connect(db_url("postgres"))
        try:
            pgdata = await conn.fetchval("SHOW data_directory")
        finally:
            await conn.close()
    try:
        _POSTMASTER = int(Path(pgdata, "postmaster.pid").read_text().splitlines()[0])  # noqa: ASYNC240
    except (OSError, ValueError, IndexError):
        _POSTMASTER = None
    return _POSTMASTER


def postgres_cpu_seconds() -> float | None:
    pm = _POSTMASTER
    if pm is None:
        return None
    try:
        _, u, s, cu, cs = _proc_stat(pm)
    except OSError:
        return None
    total = u + s + cu + cs
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                ppid, u, s, _, _ = _proc_stat(int(name))
            except OSError:
                continue
            if ppid == pm:
                total += u + s
    return total / CLK_TCK


def _sys_cpu() -> tuple[int, int, int, int]:
    """System-wide /proc/stat ticks: (total, iowait, steal, idle)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v[:8]), v[4], v[7], v[3]


def machine_load(seconds: float = 1.0) -> dict[str, Any]:
    """The machine with nothing of ours running: load averages, cores, and the share of
    all cores busy over `seconds` (what other programs take from a run that follows)."""
    before = _sys_cpu()
    time.sleep(seconds)
    after = _sys_cpu()
    total = max(1, after[0] - before[0])
    idle = (after[3] - before[3]) + (after[1] - before[1])
    load1, load5, load15 = os.getloadavg()
    return {
        "nproc": os.cpu_count(),
        "load1": round(load1, 2),
        "load5": round(load5, 2),
        "load15": round(load15, 2),
        "busy_pct_of_all_cores": round(100 * (total - idle) / total, 1),
        "sys_steal_pct": round(100 * (after[2] - before[2]) / total, 1),
    }


class CpuMeter:
    """Wall time, CPU of this process + `pids`, CPU of PostgreSQL, over one interval."""

    def __init__(self, pids: list[int] | None = None, names: list[str] | None = None) -> None:
        self.pids = pids or []
        self.names = names  # one per pid: CPU per 1k tasks is then reported per process too

    def start(self) -> CpuMeter:
        self.t0 = time.perf_counter()
        t = os.times()
        self.self0 = t.user + t.system
        self.reaped0 = t.children_user + t.children_system
        self.pids0 = {p: pid_cpu_seconds(p) for p in self.pids}
        self.pg0 = postgres_cpu_seconds()
        self.sys0 = _sys_cpu()
        return self

    def stop(self, n: int | None = None) -> dict[str, Any]:
        wall = time.perf_counter() - self.t0
        t = os.times()
        py = (t.user + t.system) - self.self0
        by_process = {"bench": py}
        gone = []
        for i, (p, before) in enumerate(self.pids0.items()):
            after = pid_cpu_seconds(p)
            name = self.names[i] if self.names else str(p)
            if before is not None and after is not None:
                py += after - before
                by_process[name] = after - before
            elif before is not None:
                gone.append((name, before))
        if len(gone) == 1:  # a child that ended and was reaped (the latency worker): its
            # whole CPU moved to this process's children times
            name, before = gone[0]
            reaped = t.children_user + t.children_system - self.reaped0
            py += reaped - before
            by_process[name] = reaped - before
        pg1 = postgres_cpu_seconds()
        pg = None if pg1 is None or self.pg0 is None else pg1 - self.pg0
        sys1 = _sys_cpu()
        dt = max(1, sys1[0] - self.sys0[0])
        # CPU the machine spent outside this measurement's processes (other programs,
        # the kernel's own work), in % of one core: a quiet run keeps it near zero
        busy = (dt - (sys1[3] - self.sys0[3]) - (sys1[1] - self.sys0[1])) / CLK_TCK
        other = busy - py - (pg or 0.0)
        out: dict[str, Any] = {
            "sys_other_cpu_pct": round(100 * other / wall, 1),
            "sys_steal_pct": round(100 * (sys1[2] - self.sys0[2]) / dt, 1),
            "sys_iowait_pct": round(100 * (sys1[1] - self.sys0[1]) / dt, 1),
            "wall_s": round(wall, 4),
            "py_cpu_s": round(py, 3),
            "pg_cpu_s": None if pg is None else round(pg, 3),
            "py_cpu_pct": round(100 * py / wall, 1),
            "pg_cpu_pct": None if pg is None else round(100 * pg / wall, 1),
        }
        if n:  # CPU seconds per 1,000 tasks
            out["py_cpu_s_per_1k"] = round(1000 * py / n, 4)
            out["pg_cpu_s_per_1k"] = None if pg is None else round(1000 * pg / n, 4)
            if self.names:
                out["cpu_s_per_1k_by_process"] = {
                    name: round(1000 * cpu / n, 4) for name, cpu in by_process.items()
                }
        return out


class WalMeter:
    """WAL written by the whole cluster over one interval, per task: bytes from the WAL
    insert position (exact), records from pg_stat_wal (PostgreSQL 14+). A backend adds its
    counts to pg_stat_wal at most once a second, and at exit: so `result` is read after
    the run's connections have closed. Cluster-wide, so autovacuum and checkpoints that
    fall in the interval count too, as a private cluster's whole cost of the run."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.lsn0 = self.lsn1 = ""
        self.records0 = 0

    async def _read(self) -> tuple[str, int]:
        conn = await asyncpg.connect(self.url)
        try:
            row = await conn.fetchrow(
                "SELECT CAST(pg_current_wal_insert_lsn() AS text) AS lsn, wal_records"
                " FROM pg_stat_wal"
            )
        finally:
            await conn.close()
        assert row is not None
        return row["lsn"], int(row["wal_records"])

    async def start(self) -> WalMeter:
        self.lsn0, self.records0 = await self._read()
        return self

    async def end(self) -> None:
        """The end of the timed interval (for the bytes)."""
        self.lsn1, _ = await self._read()

    async def result(self, n: int) -> dict[str, Any]:
        """Per task; call once the run's own connections have closed."""
        await asyncio.sleep(0.5)  # the closed backends' last counts
        _, records = await self._read()
        conn = await asyncpg.connect(self.url)
        try:
            written = await conn.fetchval(
                "SELECT pg_wal_lsn_diff(CAST(CAST($1 AS text) AS pg_lsn),"
                " CAST(CAST($2 AS text) AS pg_lsn))",
                self.lsn1,
                self.lsn0,
            )
        finally:
            await conn.close()
        return {
            "wal_records_per_task": round((records - self.records0) / n, 2),
            "wal_bytes_per_task": round(float(written) / n),
        }


# -- database --------------------------------------------------------------------------


async def fresh_database(name: str, synchronous_commit: str) -> str:
    """Drop, create and migrate `name`; CHECKPOINT so the timed part starts clean."""
    admin = await asyncpg.connect(db_url("postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.execute(
            f'ALTER DATABASE "{name}" SET synchronous_commit = {synchronous_commit}'
        )
    finally:
        await admin.close()
    url = db_url(name)
    await migrate(url)
    return url


async def settle(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CHECKPOINT")
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


# -- processes -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    """`leaseq serve` against `url` in a child process (uvicorn, uvloop, httptools)."""

    def __init__(self, url: str, *, access_log: bool = False) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        # LEASEQ_BENCH_STAGES: the same command through the bench-only stage hooks.
        stages = os.environ.get("LEASEQ_BENCH_STAGES")
        launcher = (
            [sys.executable, str(HERE / "stage_hooks.py")]
            if stages
            else [str(Path(sys.executable).with_name("leaseq"))]
        )
        cmd = [
            *launcher,
            "serve",
            "--database-url",
            url,
            "--port",
            str(self.port),
        ]
        if not access_log and not os.environ.get("LEASEQ_BENCH_OLD_SERVE"):
            cmd.append("--no-access-log")  # (older `leaseq serve` has no such flag)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def ready(self, timeout: float = 30.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"leaseq serve exited with {self.proc.returncode}")
                try:
                    if (await http.get(self.base + "/readyz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError("leaseq serve did not become ready")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class WorkerProcess:
    """bench/bench_worker.py in a child process, driven by lines on its stdin; or, given
    `command`, another worker of the same protocol (the Go SDK's benchworker)."""

    def __init__(self, *args: str, command: list[str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [*(command or [sys.executable, str(HERE / "bench_worker.py")]), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._lines: asyncio.StreamReader | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def line(self) -> str:
        """The next line the worker prints ("" once it has exited). Read through the event
        loop, not a thread: the throughput run asks every 10 ms, on the measured CPU."""
        if self._lines is None:
            assert self.proc.stdout is not None
            self._lines = asyncio.StreamReader()
            loop = asyncio.get_running_loop()
            protocol = asyncio.StreamReaderProtocol(self._lines)
            await loop.connect_read_pipe(lambda: protocol, self.proc.stdout)
        return (await self._lines.readline()).decode()

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


GO_MODULE = HERE.parent / "clients" / "go"


def build_go_worker(out_dir: str) -> str:
    """The Go SDK's bench worker (clients/go/internal/benchworker), built offline."""
    binary = os.path.join(out_dir, "leaseq-go-benchworker")
    env = {**os.environ, "GOPROXY": "off", "GOTOOLCHAIN": "local", "GOTELEMETRY": "off"}
    subprocess.run(
        ["go", "build", "-o", binary, "./internal/benchworker"],
        cwd=GO_MODULE,
        env=env,
        check=True,
    )
    return binary


async def enqueue_in_order(
    n: int,
    batch: int,
    one: Callable[[int], Awaitable[None]],
    many: Callable[[int, int], Awaitable[None]],
) -> None:
    """The timed part of an enqueue measure: tasks 0..n-1 one per call (`one(i)`) when
    `batch` is 1, else in batches of `batch` (`many(start, size)`), one after another."""
    if batch == 1:
        for i in range(n):
            await one(i)
    else:
        for start in range(0, n, batch):
            await many(start, min(batch, n - start))


def pct(xs: list[float], p: float) -> float | None:
    xs = sorted(xs)
    if not xs:
        return None
    k = (len(xs) - 1) * p / 100
    f = int(k)
    c = min(f + 1, len(xs) - 1)
    return xs[f] + (xs[c] - xs[f]) * (k - f)
