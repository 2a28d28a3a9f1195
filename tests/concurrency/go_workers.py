"""Go SDK workers for the race suite: `clients/go/internal/raceworker`, built once per
session, run as processes that write the same effects and event-history files as the
Python workers of sdk_workers.py (so judge.py judges them together)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

GO_MODULE = Path(__file__).resolve().parents[2] / "clients" / "go"


def go_env() -> dict[str, str]:
    """Offline builds (no module downloads, no toolchain switch) with a writable cache."""
    env = dict(os.environ)
    cache = Path(tempfile.gettempdir()) / "leaseq-go"
    if "HOME" not in env:
        env.setdefault("GOCACHE", str(cache / "build"))
        env.setdefault("GOPATH", str(cache / "path"))
    env.update(GOPROXY="off", GOTOOLCHAIN="local", GOTELEMETRY="off")
    return env


def build_raceworker(out_dir: Path) -> Path:
    """The race worker's binary; skips without a Go toolchain, except in CI (fails)."""
    go = shutil.which("go")
    if go is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no `go` command: CI must run the Go workers (.ci/run installs golang-go)")
        pytest.skip("no `go` command: the Go workers are not built")
    binary = out_dir / "raceworker"
    subprocess.run(
        [go, "build", "-o", str(binary), "./internal/raceworker"],
        cwd=GO_MODULE,
        env=go_env(),
        check=True,
        timeout=300,
    )
    return binary


class GoWorkerProcess:
    """One race worker process; signals go to its own PID only."""

    def __init__(
        self,
        binary: Path,
        url: str,
        queue: str,
        name: str,
        out_dir: Path,
        *,
        concurrency: int = 4,
        lease_seconds: float = 2.0,
        poll_seconds: float = 0.5,
        work_seconds: float = 0.05,
    ) -> None:
        self.name = name
        self.effects_path = out_dir / f"effects-{name}.jsonl"
        self.events_path = out_dir / f"events-{name}.jsonl"
        self._log = (out_dir / f"go-{name}.log").open("w")
        self.process = subprocess.Popen(
            [
                str(binary),
                f"-url={url}",
                f"-queue={queue}",
                f"-name={name}",
                f"-out={out_dir}",
                f"-concurrency={concurrency}",
                f"-lease={lease_seconds}s",
                f"-poll={poll_seconds}s",
                f"-work={work_seconds}s",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def signal(self, sig: signal.Signals) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self, timeout: float = 20) -> int | None:
        """SIGCONT (in case it is paused) and SIGTERM: the worker's graceful shutdown."""
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self._log.close()
        return self.process.returncode
