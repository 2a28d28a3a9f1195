"""`worker_command` in a real process: it runs the named worker and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from leaseq.sdk.cli import load_worker

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
    with pytest.raises(ValueError, match="module:worker"):
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
