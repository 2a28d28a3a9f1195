"""Real processes for the fault tests: `leaseq serve` replicas and a private PostgreSQL.

Every process started here is stopped here, by its own PID, in a `finally`. The private
PostgreSQL is an embedded `pgserver` cluster in a temporary directory, so a test may
stop, restart or break it without touching any other server on the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

LEASEQ = [sys.executable, "-c", "from leaseq.app.cli import main; main()"]
# Fast maintenance so expired leases come back within the test's time budget.
SPAWN_CONTEXT = multiprocessing.get_context("spawn")
SERVICE_ENV = {
    "LEASEQ_EXPIRY_INTERVAL_SECONDS": "0.2",
    "LEASEQ_READY_CHECK_INTERVAL_SECONDS": "0.2",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: Any, *, timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll `condition()` (another process's progress: nothing to wait on) until true."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class ServiceProcess:
    """One `leaseq serve --database-url …` replica on a free port."""

    def __init__(self, database_url: str, log_dir: Path, name: str = "service") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{name}-{self.port}.log"
        self._log = self.log_path.open("w")
        env = {**os.environ, **SERVICE_ENV}
        env.pop("LEASEQ_TOKENS", None)
        self.process = subprocess.Popen(
            [*LEASEQ, "serve", "--database-url", database_url, "--port", str(self.port)],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout: float = 60) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"leaseq serve exited:\n{self.log_path.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
            return False

        wait_until(ready, timeout=timeout, what=f"{self.url}/readyz")

    def kill(self) -> None:
        """SIGKILL: no shutdown, connections dropped mid-request."""
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.process.wait(10)
        self._log.close()


@contextlib.contextmanager
def services(database_url: str, log_dir: Path, count: int = 1) -> Iterator[list[ServiceProcess]]:
    started = [ServiceProcess(database_url, log_dir, f"service{n}") for n in range(count)]
    try:
        for service in started:
            service.wait_ready()
        yield started
    finally:
        for service in started:
            service.stop()


class PrivatePostgres:
    """An embedded PostgreSQL cluster that only this test uses, so it may restart it."""

    def __init__(self, data_dir: Path) -> None:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset, then falls back (as serve)
            warnings.simplefilter("ignore")
            import pgserver

            self._server: Any = pgserver.get_server(data_dir, cleanup_mode="delete")
        self.data_dir = data_dir
        self.url = self._server.get_uri().replace("postgres:@", "postgres@")

    def stop(self) -> None:
        from pgserver._commands import pg_ctl

        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data_dir, user=self._server.system_user)

    def start(self) -> None:
        """Start again with the options pgserver uses (same socket dir, same URL)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (as in __init__)
            self._server.ensure_postgres_running()

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self._server.cleanup()


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    with tempfile.TemporaryDirectory(prefix="leaseq-faults-pg-") as data:
        server = PrivatePostgres(Path(data))
        try:
            yield server
        finally:
            server.cleanup()


async def run_actor_processes(
    target: Any, urls: list[str], processes: int, seconds: float, out_dir: Path
) -> list[Path]:
    """Start `processes` actor processes, actor n on `urls[n % len(urls)]`, release them
    together at a barrier, and wait for every one to exit 0. `target(url, name, n,
    barrier, out, seconds)` writes its history to `out`; the paths are returned. A process
    still alive when this fails is killed."""
    barrier = SPAWN_CONTEXT.Barrier(processes + 1)
    outs = [out_dir / f"history-{n}.jsonl" for n in range(processes)]
    procs = [
        SPAWN_CONTEXT.Process(
            target=target,
            args=(urls[n % len(urls)], f"p{n}", n, barrier, str(outs[n]), seconds),
        )
        for n in range(processes)
    ]
    try:
        for proc in procs:
            proc.start()
        await asyncio.to_thread(barrier.wait, 90)
        for proc in procs:
            await asyncio.to_thread(proc.join, seconds + 60)
            assert proc.exitcode == 0, f"actor process exited with {proc.exitcode}"
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
                proc.join(5)
    return outs


def soak_seconds(default: float) -> float:
    """How long a scenario keeps its load on: short in CI, `LEASEQ_SOAK_SECONDS` for soaks."""
    value = os.environ.get("LEASEQ_SOAK_SECONDS")
    return float(value) if value else default
