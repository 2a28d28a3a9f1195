"""The real `leaseq serve` process: HTTP over a socket, restarts keep the tasks."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(180)]

TOKEN = "e2e-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LEASEQ = [sys.executable, "-c", "from leaseq.app.cli import main; main()"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def serving(args: list[str], cwd: Path, stop: signal.Signals = signal.SIGINT) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "LEASEQ_TOKENS": f"{TOKEN}:admin"}
    log = (cwd / f"serve-{port}.log").open("w")
    process = subprocess.Popen(
        [*LEASEQ, "serve", "--port", str(port), *args],
        cwd=cwd,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, cwd / f"serve-{port}.log")
        yield url
    finally:
        process.send_signal(stop)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"leaseq serve exited early:\n{log.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        time.sleep(0.1)  # the server is starting in another process; nothing to wait on
    raise AssertionError(f"leaseq serve did not become ready:\n{log.read_text()}")


def enqueue_and_complete_one(url: str) -> tuple[str, str]:
    with httpx.Client(base_url=url, headers=AUTH, timeout=10) as http:
        done = http.post("/v1/tasks", json={"tasks": [{"queue": "e2e", "type": "t"}]})
        waiting = http.post("/v1/tasks", json={"tasks": [{"queue": "e2e", "type": "t"}]})
        assert done.status_code == 201 and waiting.status_code == 201
        (lease,) = http.post("/v1/leases", json={"queue": "e2e", "worker_id": "w"}).json()["leases"]
        completed = http.post(
            f"/v1/tasks/{lease['task_id']}/complete", json={"token": lease["token"], "result": 7}
        )
        assert completed.json()["state"] == "succeeded"
        return lease["task_id"], waiting.json()["tasks"][0]["id"]


def assert_still_there(url: str, succeeded: str, pending: str) -> None:
    with httpx.Client(base_url=url, headers=AUTH, timeout=10) as http:
        assert http.get(f"/v1/tasks/{succeeded}").json()["result"] == 7
        assert http.get(f"/v1/tasks/{pending}").json()["state"] == "pending"


def test_serve_with_a_database_url_keeps_tasks_across_a_restart(pg_database_url, tmp_path):
    args = ["--database-url", pg_database_url, "--migrate"]
    with serving(args, tmp_path) as url:
        succeeded, pending = enqueue_and_complete_one(url)
        big = httpx.post(
            f"{url}/v1/tasks", content=b"x" * (3 * 1024 * 1024), headers=AUTH, timeout=30
        )
        assert big.status_code == 413 and big.json()["type"] == "payload_too_large"
        assert httpx.get(f"{url}/v1/queues").status_code == 401
    with serving(["--database-url", pg_database_url], tmp_path) as url:
        assert_still_there(url, succeeded, pending)


def test_serve_without_a_migrated_database_exits_with_one_line(pg_database_url, tmp_path):
    result = subprocess.run(
        [*LEASEQ, "serve", "--port", str(free_port()), "--database-url", pg_database_url],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "leaseq migrate" in result.stderr and "Traceback" not in result.stderr


def test_serve_with_the_embedded_default_keeps_tasks_across_a_restart(tmp_path):
    with serving([], tmp_path, stop=signal.SIGTERM) as url:
        succeeded, pending = enqueue_and_complete_one(url)
    pgdata = tmp_path / ".leaseq" / "postgres"
    assert (pgdata / "PG_VERSION").exists()
    assert not (pgdata / "postmaster.pid").exists(), "SIGTERM left the embedded server running"
    with serving([], tmp_path) as url:
        assert_still_there(url, succeeded, pending)


def test_a_killed_serve_leaves_no_embedded_server_after_the_next_clean_stop(tmp_path):
    pgdata = tmp_path / ".leaseq" / "postgres"
    with serving([], tmp_path, stop=signal.SIGKILL):
        pass
    orphan = postmaster_pid(pgdata)
    assert orphan is not None, "expected SIGKILL to leave the embedded server running"
    try:
        with serving([], tmp_path) as url:  # reuses the orphan, stops it on a clean exit
            assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
            assert postmaster_pid(pgdata) == orphan
        assert not (pgdata / "postmaster.pid").exists(), "the clean stop left it running"
        assert not process_runs(orphan)
    finally:
        if process_runs(orphan):  # don't leave it behind when the test fails
            psutil.Process(orphan).terminate()


def test_a_stale_pid_file_naming_another_process_is_forgotten_and_that_process_spared(
    tmp_path, monkeypatch
):
    # No XDG_RUNTIME_DIR (containers, CI): pgserver's platformdirs warns unless kept quiet.
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    pgdata = tmp_path / ".leaseq" / "postgres"
    with serving([], tmp_path, stop=signal.SIGKILL):
        pass
    server = postmaster_pid(pgdata)
    assert server is not None
    psutil.Process(server).kill()  # the machine "rebooted": the server is gone ...
    psutil.Process(server).wait(10)
    bystander = subprocess.Popen(["sleep", "120"])  # ... and its pid names another process
    try:
        pid_file = pgdata / "postmaster.pid"
        lines = pid_file.read_text().splitlines()
        pid_file.write_text("\n".join([str(bystander.pid), *lines[1:]]) + "\n")
        with serving([], tmp_path) as url:
            assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
            restarted = postmaster_pid(pgdata)
        assert restarted not in (None, bystander.pid)
        assert bystander.poll() is None, "the process the stale pid named was killed"
        assert not process_runs(restarted)
        logs = "".join(log.read_text() for log in tmp_path.glob("serve-*.log"))
        assert "XDG_RUNTIME_DIR" not in logs and "Traceback" not in logs, logs
    finally:
        bystander.kill()
        bystander.wait()


def postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().split()[0])
    except FileNotFoundError:
        return None


def process_runs(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting for its reaper does not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_serve_says_listening_only_once_the_port_takes_connections(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [*LEASEQ, "serve", "--memory", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith(f"leaseq listening on http://127.0.0.1:{port}")
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # no retry: the line promised a bound, listening socket
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)
