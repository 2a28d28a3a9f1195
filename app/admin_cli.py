"""Operator commands for queues and schedules (`leaseq queue …`, `leaseq schedule …`),
talking to a running service over HTTP like the other operator commands."""

from __future__ import annotations

import json
import urllib.parse
from typing import Annotated, Any, NoReturn

import typer

from leaseq.app.operator_cli import DEFAULT_URL, Token, Url, call, show


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"leaseq: {message}", err=True)
    raise typer.Exit(code)


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def register(app: typer.Typer) -> None:
    queue_app = typer.Typer(help="One queue: show, pause, resume, limits.", no_args_is_help=True)
    schedule_app = typer.Typer(help="Periodic schedules.", no_args_is_help=True)
    app.add_typer(queue_app, name="queue")
    app.add_typer(schedule_app, name="schedule")

    @queue_app.command("show")
    def queue_show(queue: str, url: Url = DEFAULT_URL, token: Token = None) -> None:
        """A queue's counts and whether it is paused."""
        show(call("GET", url, f"/v1/queues/{_segment(queue)}", token))

    @queue_app.command("pause")
    def queue_pause(queue: str, url: Url = DEFAULT_URL, token: Token = None) -> None:
        """Stop granting leases of the queue (enqueue goes on; held leases finish)."""
        show(call("POST", url, f"/v1/queues/{_segment(queue)}/pause", token))

    @queue_app.command("resume")
    def queue_resume(queue: str, url: Url = DEFAULT_URL, token: Token = None) -> None:
        """Grant leases of the queue again."""
        show(call("POST", url, f"/v1/queues/{_segment(queue)}/resume", token))

    @queue_app.command("limits")
    def queue_limits(
        queue: str,
        concurrency: Annotated[
            int | None, typer.Option(help="at most this many live leases on the queue")
        ] = None,
        per_key: Annotated[
            int | None, typer.Option(help="at most this many live leases per concurrency key")
        ] = None,
        rate: Annotated[
            float | None, typer.Option(help="leases started per second (bursts of 1 s worth)")
        ] = None,
        clear: Annotated[bool, typer.Option(help="lift every limit")] = False,
        url: Url = DEFAULT_URL,
        token: Token = None,
    ) -> None:
        """Set the queue's flow-control limits, all three at once: a limit not given is
        lifted. In force at the next grant on every replica."""
        given = (concurrency, per_key, rate)
        if clear == any(value is not None for value in given):
            _fail("give --concurrency, --per-key and/or --rate, or --clear alone")
        body = {"concurrency": concurrency, "concurrency_per_key": per_key, "rate_per_second": rate}
        show(call("PUT", url, f"/v1/queues/{_segment(queue)}/limits", token, json=body))

    @schedule_app.command("set")
    def schedule_set(
        name: str,
        cron: Annotated[str, typer.Argument(help='e.g. "*/5 * * * *" (quote it)')],
        queue: str,
        type: str,
        payload_json: Annotated[str, typer.Argument(metavar="PAYLOAD_JSON")] = "null",
        timezone: Annotated[str, typer.Option(help="IANA time zone of the rule")] = "UTC",
        priority: int = 0,
        max_attempts: int = 20,
        version: int = 1,
        url: Url = DEFAULT_URL,
        token: Token = None,
    ) -> None:
        """Create or replace a schedule: one task per fire time of CRON in --timezone."""
        try:
            payload = json.loads(payload_json)
        except ValueError as exc:
            _fail(f"PAYLOAD_JSON is not JSON: {exc}", code=2)
        task: dict[str, Any] = {
            "queue": queue,
            "type": type,
            "type_version": version,
            "payload": payload,
            "priority": priority,
            "max_attempts": max_attempts,
        }
        body = {"cron": cron, "timezone": timezone, "task": task}
        show(call("PUT", url, f"/v1/schedules/{_segment(name)}", token, json=body))

    @schedule_app.command("list")
    def schedule_list(url: Url = DEFAULT_URL, token: Token = None) -> None:
        """Every schedule with its next fire time."""
        show(call("GET", url, "/v1/schedules", token))

    @schedule_app.command("show")
    def schedule_show(name: str, url: Url = DEFAULT_URL, token: Token = None) -> None:
        """One schedule."""
        show(call("GET", url, f"/v1/schedules/{_segment(name)}", token))

    @schedule_app.command("delete")
    def schedule_delete(name: str, url: Url = DEFAULT_URL, token: Token = None) -> None:
        """Delete a schedule (the tasks it enqueued stay)."""
        show(call("DELETE", url, f"/v1/schedules/{_segment(name)}", token))
