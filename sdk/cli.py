"""`leaseq worker package.module:worker`: import a worker and run it until SIGTERM/SIGINT.

The service's CLI registers `worker_command` as its `worker` command.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import Annotated, Any

import typer

from leaseq.sdk import event_loop
from leaseq.sdk.client import Client
from leaseq.sdk.worker import Worker


class TaskFieldsFormatter(logging.Formatter):
    """Plain log lines that end with the task fields the worker attaches (key=value)."""

    FIELDS = ("task_id", "queue", "type", "attempt", "worker_id")

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(
            f"{name}={getattr(record, name)}" for name in self.FIELDS if hasattr(record, name)
        )
        line = super().format(record)
        return f"{line} [{fields}]" if fields else line


def load_worker(spec: str, *, url: str | None = None, token: str | None = None) -> Worker:
    """`module:name` names a Worker, or a callable taking a Client and returning one."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"expected package.module:worker, got {spec!r}")
    if os.getcwd() not in sys.path:  # like uvicorn: the project you run from is importable
        sys.path.insert(0, os.getcwd())
    target: Any = getattr(importlib.import_module(module_name), attribute)
    if isinstance(target, Worker):
        if url is not None:
            target.transport = Client(url, token).transport
        return target
    if callable(target):
        worker = target(Client(url or "http://127.0.0.1:8000", token))
        if isinstance(worker, Worker):
            return worker
    raise TypeError(f"{spec} is neither a Worker nor a factory returning one")


def worker_command(
    spec: Annotated[
        str, typer.Argument(help="package.module:worker (a Worker, or a factory taking a Client)")
    ],
    queue: Annotated[str | None, typer.Option(help="claim from this queue instead")] = None,
    concurrency: Annotated[int | None, typer.Option(help="tasks run at once")] = None,
    prefetch: Annotated[
        int | None, typer.Option(help="leased tasks held beyond concurrency (short tasks)")
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="the service's base URL", envvar="LEASEQ_URL")
    ] = None,
    token: Annotated[str | None, typer.Option(help="bearer token", envvar="LEASEQ_TOKEN")] = None,
) -> None:
    """Run a worker until SIGTERM/SIGINT (then it finishes or releases its tasks)."""
    if not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(TaskFieldsFormatter())
        logging.basicConfig(level=logging.INFO, handlers=[handler])
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    worker = load_worker(spec, url=url, token=token)
    apply_options(worker, queue=queue, concurrency=concurrency, prefetch=prefetch)
    event_loop.run(_run(worker))


def apply_options(
    worker: Worker, *, queue: str | None, concurrency: int | None, prefetch: int | None
) -> None:
    """The command line's options override what the worker was built with."""
    if queue is not None:
        worker.queue = queue
    if concurrency is not None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        worker.concurrency = concurrency
    if prefetch is not None:
        if prefetch < 0:
            raise ValueError("prefetch must not be negative")
        worker.prefetch = prefetch


async def _run(worker: Worker) -> None:
    try:
        await worker.run()
    finally:
        await worker.transport.aclose()


__all__ = ["TaskFieldsFormatter", "apply_options", "load_worker", "worker_command"]
