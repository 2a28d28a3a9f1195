"""`leaseq worker package.module:worker`: import a worker and run it until SIGTERM/SIGINT.

The service's CLI registers `worker_command` as its `worker` command. Every mistake is a
click error: a usage error (exit 2) for what the command line or the environment got
wrong, a plain one (exit 1) for what the user's module or the service refused; the
CLI's `main` prints it as one line (a traceback only with --debug).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback
from typing import Annotated, Any

import typer

from leaseq.sdk import event_loop
from leaseq.sdk.client import Client
from leaseq.sdk.errors import Forbidden, Unauthorized
from leaseq.sdk.worker import Worker

DEFAULT_URL = "http://127.0.0.1:8000"


class CommandError(typer.BadParameter):
    """A mistake said in one line by the CLI's `main`: exit 2 (usage) unless the user's
    module or the service is at fault (exit 1)."""

    def __init__(self, message: str, *, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def format_message(self) -> str:
        return self.message


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
    """`module:name` names a Worker, or a callable taking a Client and returning one.

    Raises CommandError: exit 2 when the spec names nothing, the URL names no service or
    the module needs an unset environment variable; exit 1 when importing fails otherwise.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise CommandError(f"expected package.module:worker, got {spec!r}")
    if os.getcwd() not in sys.path:  # like uvicorn: the project you run from is importable
        sys.path.insert(0, os.getcwd())
    module = _import(module_name)
    target: Any = getattr(module, attribute, None)
    if target is None:
        raise CommandError(f"module {module_name} has no attribute {attribute!r}")
    try:
        if isinstance(target, Worker):
            if url is not None:
                target.transport = Client(url, token).transport
            return target
        if callable(target):
            worker = target(Client(url or DEFAULT_URL, token))
            if isinstance(worker, Worker):
                return worker
    except ValueError as error:  # a URL that names no service: nothing to retry
        raise CommandError(f"--url: {error}") from error
    raise CommandError(f"{spec} is neither a Worker nor a factory returning one")


def _import(module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is not None and module_name.startswith(error.name):
            raise CommandError(
                f"no module named {error.name!r} (run from the folder that holds it,"
                " or add that folder to PYTHONPATH)"
            ) from error
        raise _import_failed(module_name, error) from error
    except Exception as error:
        unset = _unset_environment_variable(error)
        if unset is not None:
            raise CommandError(
                f"importing {module_name} needs the environment variable {unset}, which is not set"
            ) from error
        raise _import_failed(module_name, error) from error


def _import_failed(module_name: str, error: Exception) -> CommandError:
    where = traceback.extract_tb(error.__traceback__)[-1]
    return CommandError(
        f"importing {module_name} failed at {os.path.basename(where.filename)}:{where.lineno}:"
        f" {type(error).__name__}: {error}",
        exit_code=1,  # the module is at fault, not the command line
    )


def _unset_environment_variable(error: Exception) -> str | None:
    """The name, when `error` is os.environ's KeyError for a missing variable."""
    if not isinstance(error, KeyError) or not error.args:
        return None
    frames = traceback.extract_tb(error.__traceback__)
    if frames and frames[-1].filename.endswith(("os.py", "<frozen os>")):
        return str(error.args[0])
    return None


def worker_command(
    spec: Annotated[
        str, typer.Argument(help="package.module:worker (a Worker, or a factory taking a Client)")
    ],
    queue: Annotated[str | None, typer.Option(help="claim from this queue instead")] = None,
    concurrency: Annotated[int | None, typer.Option(help="tasks run at once", min=1)] = None,
    prefetch: Annotated[
        int | None,
        typer.Option(
            help="leased tasks held beyond concurrency; 0: none (default: automatic)", min=0
        ),
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
    try:
        apply_options(worker, queue=queue, concurrency=concurrency, prefetch=prefetch)
    except ValueError as error:
        raise CommandError(str(error)) from error
    try:
        event_loop.run(_run(worker))
    except (Unauthorized, Forbidden) as error:
        raise CommandError(
            f"the service refused the token ({error.status} {error.code}: {error.detail});"
            " give a token with the work scope in --token or LEASEQ_TOKEN",
            exit_code=1,
        ) from error


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
