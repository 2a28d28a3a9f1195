"""Operator commands that talk to a running service over HTTP (`--url`, `--token`)."""

from __future__ import annotations

import json
from typing import Annotated, Any, NoReturn

import httpx
import typer

Url = Annotated[str, typer.Option("--url", envvar="LEASEQ_URL", help="the service's base URL")]
Token = Annotated[str | None, typer.Option("--token", envvar="LEASEQ_TOKEN", help="bearer token")]
DEFAULT_URL = "http://127.0.0.1:8000"


def _fail(message: str, code: int = 1) -> NoReturn:
    """One line; exit 2 when the command line is at fault, 1 when the service refused."""
    typer.echo(f"leaseq: {message}", err=True)
    raise typer.Exit(code)


def call(method: str, url: str, path: str, token: str | None, **kwargs: Any) -> Any:
    """One request; a problem or a transport error becomes one line and exit code 1."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=30.0) as client:
            response = client.request(method, path, **kwargs)
    except httpx.InvalidURL as exc:
        _fail(f"bad --url {url!r}: {exc}", code=2)
    except httpx.UnsupportedProtocol:
        _fail(f"bad --url {url!r}: it must start with http:// or https://", code=2)
    except httpx.HTTPError as exc:
        _fail(f"cannot reach the service at {url}: {exc or type(exc).__name__}")
    if response.status_code >= 400:
        try:
            problem = response.json()
        except ValueError:
            _fail(f"HTTP {response.status_code} from {url}{path}")
        _fail(problem_line(problem, response.status_code))
    return response.json()


def problem_line(problem: Any, status: int) -> str:
    """A problem+json answer in one line, with the field of each validation error."""
    if not isinstance(problem, dict):
        return f"HTTP {status}"
    line = f"{problem.get('type')} ({status}): {problem.get('detail')}"
    errors = problem.get("errors")
    if isinstance(errors, list):
        details = [f"{e.get('field')}: {e.get('message')}" for e in errors if isinstance(e, dict)]
        untold = [d for d in details if d not in line]
        if untold:
            line = f"{line} [{'; '.join(untold)}]"
    return line


def show(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def register(app: typer.Typer) -> None:
    task_app = typer.Typer(help="One task.", no_args_is_help=True)
    tasks_app = typer.Typer(help="Many tasks.", no_args_is_help=True)
    dead_app = typer.Typer(help="The dead-letter list.", no_args_is_help=True)
    app.add_typer(task_app, name="task")
    app.add_typer(tasks_app, name="tasks")
    app.add_typer(dead_app, name="dead")

    @app.command()
    def enqueue(
        queue: str,
        type: str,
        payload_json: Annotated[str, typer.Argument(metavar="PAYLOAD_JSON")] = "null",
        priority: int = 0,
        delay: Annotated[float | None, typer.Option(help="seconds before it is ready")] = None,
        idempotency_key: str | None = None,
        concurrency_key: Annotated[
            str | None, typer.Option(help="the key of the queue's per-key limit")
        ] = None,
        max_attempts: int | None = None,
        version: int = 1,
        url: Url = DEFAULT_URL,
        token: Token = None,
    ) -> None:
        """Enqueue one task."""
        try:
            payload = json.loads(payload_json)
            json.dumps(payload, allow_nan=False)  # 1e999 reads as infinity, which JSON lacks
        except ValueError as exc:
            _fail(f"PAYLOAD_JSON is not JSON: {exc}", code=2)
        task: dict[str, Any] = {
            "queue": queue,
            "type": type,
            "type_version": version,
            "payload": payload,
            "priority": priority,
        }
        for name, value in (
            ("delay_seconds", delay),
            ("idempotency_key", idempotency_key),
            ("concurrency_key", concurrency_key),
            ("max_attempts", max_attempts),
        ):
            if value is not None:
                task[name] = value
        show(call("POST", url, "/v1/tasks", token, json={"tasks": [task]})["tasks"][0])

    @task_app.command("show")
    def task_show(task_id: str, url: Url = DEFAULT_URL, token: Token = None) -> None:
        """Show a task."""
        show(call("GET", url, f"/v1/tasks/{task_id}", token))

    @task_app.command("history")
    def task_history(
        task_id: str, limit: int = 100, url: Url = DEFAULT_URL, token: Token = None
    ) -> None:
        """Show a task's transitions, oldest first: why it is where it is."""
        path = f"/v1/tasks/{task_id}/history"
        show(call("GET", url, path, token, params={"limit": limit}))

    @tasks_app.command("list")
    def tasks_list(
        queue: str | None = None,
        state: str | None = None,
        type: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        url: Url = DEFAULT_URL,
        token: Token = None,
    ) -> None:
        """List tasks, oldest first."""
        params = {"queue": queue, "state": state, "type": type, "limit": limit, "cursor": cursor}
        show(call("GET", url, "/v1/tasks", token, params=_present(params)))

    @app.command()
    def queues(url: Url = DEFAULT_URL, token: Token = None) -> None:
        """Counts per queue."""
        show(call("GET", url, "/v1/queues", token))

    @dead_app.command("list")
    def dead_list(
        queue: str | None = None, limit: int = 100, url: Url = DEFAULT_URL, token: Token = None
    ) -> None:
        """Dead tasks (the dead-letter list)."""
        params = _present({"queue": queue, "state": "dead", "limit": limit})
        show(call("GET", url, "/v1/tasks", token, params=params))

    @app.command()
    def requeue(task_id: str, url: Url = DEFAULT_URL, token: Token = None) -> None:
        """Redrive a dead or cancelled task."""
        show(call("POST", url, f"/v1/tasks/{task_id}/requeue", token))

    @app.command()
    def cancel(task_id: str, url: Url = DEFAULT_URL, token: Token = None) -> None:
        """Cancel a pending or leased task."""
        show(call("POST", url, f"/v1/tasks/{task_id}/cancel", token))


def _present(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}
