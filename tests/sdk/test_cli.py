"""`worker_command` in a real process: it runs the named worker and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from leaseq.sdk.cli import CommandError, load_worker

WORKER_MODULE = textwrap.dedent(
    """
    import asyncio
    from leaseq.adapters.memory import InMemoryNotifier, InMemoryTaskStore
    from leaseq.adapters.system import RandomJitter
    from leaseq.app.services import TaskService
    from leaseq.sdk import Client, Worker
    from leaseq.sdk.transport.inprocess import InProcessTransport

    notifier = InMemoryNotifier()
    service = TaskService(InMemoryTaskStore(notifier=notifier), notifier, RandomJitter())
    worker = Worker(Client(InProcessTransport(service)), queue="q", wait_seconds=1)

    @worker.handler("echo")
    async def echo(ctx, payload):
        print("handled", payload, flush=True)
        return payload

    async def seed():
        await Client(InProcessTransport(service)).enqueue("q", "echo", "hello")

    asyncio.run(seed())
    """
)


def test_the_worker_command_runs_the_named_worker_until_sigterm(tmp_path: Path) -> None:
    (tmp_path / "my_tasks.py").write_text(WORKER_MODULE)
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from leaseq.sdk.cli import worker_command; "
            "worker_command('my_tasks:worker', queue=None, concurrency=2)",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("handled hello"):
            break
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=10)
    assert process.returncode == 0, "".join(lines) + rest
    assert "worker stopped" in rest


def test_a_spec_without_an_attribute_is_refused() -> None:
    with pytest.raises(CommandError, match="module:worker"):
        load_worker("just_a_module")


def test_command_line_options_override_the_workers_own() -> None:
    from leaseq.sdk import Client, Worker
    from leaseq.sdk.cli import apply_options

    worker = Worker(Client("http://127.0.0.1:1"), queue="q", concurrency=3)
    apply_options(worker, queue="other", concurrency=7, prefetch=7)
    assert (worker.queue, worker.concurrency, worker.prefetch) == ("other", 7, 7)
    apply_options(worker, queue=None, concurrency=None, prefetch=None)
    assert (worker.queue, worker.concurrency, worker.prefetch) == ("other", 7, 7)
    with pytest.raises(ValueError, match="prefetch"):
        apply_options(worker, queue=None, concurrency=None, prefetch=-1)


GREETINGS = textwrap.dedent(
    """
    from leaseq.sdk import Client, Worker
    worker = Worker(Client("http://127.0.0.1:1"), queue="greetings")

    @worker.handler("hello")
    async def hello(ctx, payload):
        return "hi"
    """
)


LEASEQ = [sys.executable, "-c", "from leaseq.app.cli import main; main()"]


def leaseq(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run the `leaseq` command; its exit status and everything it wrote."""
    done = subprocess.run(
        [*LEASEQ, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["nothing"], 2, "expected package.module:worker, got 'nothing'"),
        (["greetings:nobody"], 2, "module greetings has no attribute 'nobody'"),
        (["missing_module:worker"], 2, "no module named 'missing_module'"),
        (["greetings:worker", "--concurrency", "0"], 2, "'--concurrency'"),
        (["greetings:worker", "--url", "foo"], 2, "--url: not a service URL"),
        (["greetings:worker", "--url", "http://127.0.0.1:99999"], 2, "port is not 1-65535"),
        (["needs_env:worker"], 2, "needs the environment variable LEASEQ_TEST_UNSET_KEY"),
        (["broken:worker"], 1, "importing broken failed at broken.py:2: RuntimeError: no db"),
    ],
)
def test_each_worker_mistake_is_one_line_with_its_exit_status(
    tmp_path: Path, args: list[str], code: int, says: str
) -> None:
    (tmp_path / "greetings.py").write_text(GREETINGS)
    (tmp_path / "needs_env.py").write_text("import os\nKEY = os.environ['LEASEQ_TEST_UNSET_KEY']\n")
    (tmp_path / "broken.py").write_text("import os\nraise RuntimeError('no db')\n")
    status, output = leaseq("worker", *args, cwd=tmp_path)
    assert (status, output.count("\n")) == (code, 1), output
    assert output.startswith("leaseq: ") and says in output, output
    assert "Traceback" not in output


def test_debug_shows_the_traceback_of_a_failing_worker_module(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import os\nraise RuntimeError('no db')\n")
    status, output = leaseq("worker", "broken:worker", "--debug", cwd=tmp_path)
    assert status == 1
    assert "Traceback" in output and "RuntimeError: no db" in output


def test_a_refused_token_stops_the_worker_with_one_line(tmp_path: Path) -> None:
    from tests.sdk.servers import free_port

    port = free_port()
    server = subprocess.Popen(
        [*LEASEQ, "serve", "--memory", "--port", str(port)],
        env={**os.environ, "LEASEQ_TOKENS": "producer:produce"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        for line in server.stdout:
            if "listening" in line:
                break
        (tmp_path / "greetings.py").write_text(GREETINGS)
        url = f"http://127.0.0.1:{port}"
        for token, code in (("unknown", "401 unauthorized"), ("producer", "403 forbidden")):
            status, output = leaseq(
                "worker", "greetings:worker", "--url", url, "--token", token, cwd=tmp_path
            )
            last = output.strip().splitlines()[-1]
            assert status == 1, output
            assert last.startswith(f"leaseq: the service refused the token ({code}"), output
            assert "Traceback" not in output
    finally:
        server.terminate()
        server.wait(10)


SLOW_MODULE = textwrap.dedent(
    """
    import asyncio
    from leaseq.adapters.memory import InMemoryNotifier, InMemoryTaskStore
    from leaseq.adapters.system import RandomJitter
    from leaseq.app.services import TaskService
    from leaseq.sdk import Client, Worker
    from leaseq.sdk.transport.inprocess import InProcessTransport

    notifier = InMemoryNotifier()
    service = TaskService(InMemoryTaskStore(notifier=notifier), notifier, RandomJitter())
    worker = Worker(Client(InProcessTransport(service)), queue="q", wait_seconds=30)

    @worker.handler("sleep")
    async def sleep(ctx, seconds):
        print("sleeping", flush=True)
        await asyncio.sleep(seconds)

    asyncio.run(Client(InProcessTransport(service)).enqueue("q", "sleep", 600))
    """
)


def test_ctrl_c_twice_releases_the_running_task_and_exits_at_once(tmp_path: Path) -> None:
    (tmp_path / "slow_tasks.py").write_text(SLOW_MODULE)
    process = subprocess.Popen(
        [*LEASEQ, "worker", "slow_tasks:worker"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    try:
        for line in process.stdout:
            lines.append(line)
            if line.startswith("sleeping"):
                process.send_signal(signal.SIGINT)
            elif "stop again to release them now" in line:
                time.sleep(0.5)  # a second Ctrl-C, not the same one sent twice
                process.send_signal(signal.SIGINT)
                stopped_at = time.monotonic()
                break
        rest, _ = process.communicate(timeout=10)
    finally:
        process.kill()
    output = "".join(lines) + rest
    assert process.returncode == 0, output
    assert time.monotonic() - stopped_at < 5, output  # not the 30 s grace period
    assert "stopping now: releasing 1 running tasks" in output
    assert "released the task at shutdown" in output and "Traceback" not in output
