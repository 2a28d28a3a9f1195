"""The `leaseq` command: serve, migrate, operator commands, and the SDK's worker."""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import signal
import socket
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from leaseq.app import admin_cli, operator_cli
from leaseq.app.access import AccessConfigError
from leaseq.domain import LeaseqError

if TYPE_CHECKING:  # the service's packages come with leaseq[server] only (ADR 0031)
    from leaseq.app.settings import Settings

# What `serve` and `migrate` import that a base install (the SDK) lacks.
SERVER_MODULES = ("fastapi", "uvicorn", "sqlalchemy", "asyncpg", "alembic", "pydantic_settings")

app = typer.Typer(
    name="leaseq",
    help="A task queue on PostgreSQL with fenced leases.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
operator_cli.register(app)
admin_cli.register(app)


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"leaseq {_installed_version()}")
        raise typer.Exit()


def _installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("leaseq")
    except PackageNotFoundError:
        return "0+unknown (not installed)"


@app.callback()
def _options(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="print the version and exit"
        ),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="show tracebacks of unexpected errors")
    ] = False,
) -> None:
    """A task queue on PostgreSQL with fenced leases."""


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"leaseq: {message}", err=True)
    raise typer.Exit(code)


DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url", envvar="LEASEQ_DATABASE_URL", help="postgresql://user@host:port/db"
    ),
]


@app.command()
def serve(
    database_url: DatabaseUrl = None,
    memory: Annotated[bool, typer.Option("--memory", help="a throwaway in-memory store")] = False,
    migrate: Annotated[bool, typer.Option("--migrate", help="migrate the database first")] = False,
    host: Annotated[str, typer.Option(envvar="LEASEQ_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="LEASEQ_PORT", min=1, max=65535)] = 8000,
    data_dir: Annotated[
        Path, typer.Option(envvar="LEASEQ_DATA_DIR", help="embedded PostgreSQL's home")
    ] = Path(".leaseq"),
    access_log: Annotated[
        bool, typer.Option(help="log every request (costs CPU on the hot path)")
    ] = True,
) -> None:
    """Serve the HTTP API. Without --database-url: an embedded PostgreSQL in --data-dir."""
    settings = _settings(
        database_url=database_url, memory=memory, host=host, port=port, data_dir=data_dir
    )
    from leaseq.adapters.telemetry.logs import configure_logging

    configure_logging(settings.log_format)
    for chatty in ("pgserver", "alembic"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    # Bound before anything slow starts: a taken port is the first message, and
    # "listening" below is true when it is printed.
    listener = _listen(host, port)
    server = None
    where = "in-memory store (nothing is kept)"
    if not memory:
        if database_url is None:
            url, server = _embedded(data_dir)
            settings = settings.model_copy(update={"database_url": url})
            where = f"embedded PostgreSQL in {data_dir / 'postgres'}"
            migrate = True
        else:
            where = f"PostgreSQL at {_redacted(database_url)}"
        _prepare_database(settings.database_url or "", migrate=migrate)
    # uvicorn re-raises the SIGTERM it caught once it has shut down; exit normally instead,
    # so that the embedded PostgreSQL is stopped below rather than left running.
    signal.signal(signal.SIGTERM, _exit_quietly)
    try:
        _run(settings, where, listener, access_log=access_log)
    finally:
        if server is not None:
            server.cleanup()


def require_server_packages(command: str) -> None:
    """One line, not an ImportError, when this install is the SDK alone."""
    missing = [name for name in SERVER_MODULES if not _importable(name)]
    if missing:
        fail(
            f"`leaseq {command}` needs the service's packages, which this install lacks"
            f" ({', '.join(missing)}): pip install 'leaseq[server]'"
            " (from a clone: pip install -e '.[server]')"
        )


def _importable(module: str) -> bool:
    from importlib.util import find_spec

    try:
        return find_spec(module) is not None
    except ImportError:  # an import hook that refuses it
        return False


def _settings(**given: Any) -> Settings:
    """Settings from the options and `LEASEQ_*`; a bad value is a message, not a traceback."""
    require_server_packages("serve")
    import pydantic

    from leaseq.app.settings import Settings

    try:
        return Settings(**given)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"LEASEQ_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        fail(f"bad setting: {problems}", code=2)


def _exit_quietly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _run(
    settings: Settings, where: str, listener: socket.socket, *, access_log: bool = True
) -> None:
    import uvicorn

    from leaseq.adapters.http.server import server_config
    from leaseq.app.container import build_container

    container = build_container(settings)
    try:
        http_app = container.http_app()
    except AccessConfigError as exc:
        fail(str(exc))
    # Everything imported and built so far lives as long as the process: keep it out of
    # the collector's generations, so full collections stay short (latency tails).
    gc.collect()
    gc.freeze()
    config = server_config(
        http_app,
        host=settings.host,
        port=settings.port,
        header_timeout=settings.header_timeout_seconds,
        body_timeout=settings.body_timeout_seconds,
        keep_alive_timeout=settings.keep_alive_timeout_seconds,
        access_log=access_log,
    )
    typer.echo(f"leaseq listening on http://{_url_host(settings.host)}:{settings.port} ({where})")
    uvicorn.Server(config).run(sockets=[listener])


@app.command("migrate")
def migrate_command(database_url: DatabaseUrl = None) -> None:
    """Apply the schema migrations (idempotent)."""
    require_server_packages("migrate")
    if not database_url:
        fail("give --database-url or set LEASEQ_DATABASE_URL")
    revision = _database_call(_migrate(database_url), database_url)
    typer.echo(f"database schema at revision {revision}")


async def _migrate(url: str) -> str:
    from leaseq.adapters.postgres import migrate

    return await migrate(url)


async def _status(url: str) -> tuple[str | None, str]:
    from leaseq.adapters.postgres import schema_status

    return await schema_status(url)


def _prepare_database(url: str, *, migrate: bool) -> None:
    if migrate:
        _database_call(_migrate(url), url)
        return
    current, expected = _database_call(_status(url), url)
    if current != expected:
        fail(
            f"the database schema is at {current or 'nothing (empty database)'}, this "
            f"version needs {expected}: run `leaseq migrate` (or `leaseq serve --migrate`)"
        )


def _database_call(coro: Any, url: str) -> Any:
    try:
        return asyncio.run(coro)
    except (LeaseqError, OSError, ValueError) as exc:
        fail(f"cannot use the database at {_redacted(url)}: {exc}")
    except Exception as exc:  # driver errors must not reach the user as a traceback
        fail(f"cannot use the database at {_redacted(url)}: {type(exc).__name__}: {exc}")


def _embedded(data_dir: Path) -> tuple[str, Any]:
    from leaseq.adapters.postgres.embedded import start_embedded_postgres

    try:
        return start_embedded_postgres(data_dir)
    except Exception as exc:
        fail(f"cannot start the embedded PostgreSQL in {data_dir}: {exc}")


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) and listening; a one-line exit when that fails."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        fail(f"cannot bind to {host!r}: {exc.strerror}")
    family, kind, proto, _, address = infos[0]
    listener = socket.socket(family, kind, proto)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(address)
        listener.listen(2048)  # uvicorn's default backlog
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            fail(f"port {port} on {host} is already in use; pick another with --port")
        fail(f"cannot listen on {host}:{port}: {exc.strerror}")
    return listener


def _redacted(url: str) -> str:
    """The URL without its password, for messages."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _register_worker() -> None:
    """`leaseq worker` belongs to the SDK; registered only when the SDK provides it."""
    try:
        from leaseq.sdk.cli import worker_command  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return
    app.command("worker")(worker_command)


def main() -> None:
    """Every mistake is one line (exit 2 for usage); a traceback only with --debug."""
    _register_worker()
    # --debug is an option of `leaseq` itself; taken wherever it is written.
    args = sys.argv[1:]
    if "--debug" in args:
        args = ["--debug", *(arg for arg in args if arg != "--debug")]
    try:
        code = app(args=args, standalone_mode=False)
    except (KeyboardInterrupt, typer.Abort):
        sys.exit(130)
    except Exception as exc:
        if _is_usage_error(exc):
            if "--debug" in sys.argv and exc.__cause__ is not None:
                traceback.print_exception(exc.__cause__)
            _explain_usage(exc)
        if "--debug" in sys.argv:
            raise
        typer.echo(f"leaseq: {type(exc).__name__}: {exc} (--debug shows the traceback)", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _is_usage_error(exc: Exception) -> bool:
    """Click's errors (typer carries its own copy of click): they know their exit code."""
    return hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int)


def _explain_usage(exc: Any) -> NoReturn:
    context = getattr(exc, "ctx", None)
    message = exc.format_message()
    if not message and context is not None:  # `leaseq` alone: the help is the answer
        typer.echo(context.get_help())
        sys.exit(0)
    # Exit 1: the command line was right, what it named failed; its help would not help.
    usage = context is not None and exc.exit_code == 2
    hint = f" (see '{context.command_path} --help')" if usage and context is not None else ""
    typer.echo(f"leaseq: {message}{hint}", err=True)
    sys.exit(exc.exit_code)
