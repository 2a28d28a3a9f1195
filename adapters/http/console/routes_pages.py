"""The reading pages: queues (with a JSON feed for the live refresh), task lists, one task."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from leaseq.adapters.http.console import presentation
from leaseq.adapters.http.console.throughput import sparkline_points
from leaseq.adapters.http.console.web import SignedIn, options, render, state
from leaseq.adapters.http.options import service
from leaseq.adapters.http.responses import OrjsonResponse
from leaseq.adapters.http.use_cases import queue_admin
from leaseq.app.services import TaskService
from leaseq.domain import TaskNotFound, TaskState, ValidationError
from leaseq.domain import validation as v
from leaseq.ports import QueueStats, TaskFilter

router = APIRouter(prefix="/console", include_in_schema=False)

Service = Annotated[TaskService, Depends(service)]
PAGE_SIZE = 50
HISTORY_SIZE = 100  # the most recent transitions shown on a task page


@router.get("/queues")
async def queues_page(request: Request, svc: Service, current: SignedIn) -> Response:
    rows = await _queue_rows(request, svc)
    poll = max(state(request).sampler.interval, 1.0)
    context = {"queues": rows, "poll_seconds": poll, "csrf": current.csrf}
    return render(request, "queues.html", context)


@router.get("/api/queues")
async def queues_feed(request: Request, svc: Service, current: SignedIn) -> Response:
    """What the queues page's script polls to refresh its numbers."""
    rows = await _queue_rows(request, svc)
    return OrjsonResponse({"queues": rows}, headers={"Cache-Control": "no-store"})


async def _queue_rows(request: Request, svc: TaskService) -> list[dict[str, Any]]:
    admin = await queue_admin(request)
    views = await admin.queues()  # with each queue's pause and limits
    stats = [view.stats for view in views]
    sampler = state(request).sampler
    sampler.record(stats, options(request).clock.now())
    rows = []
    for view in views:
        limits = view.settings.limits
        # the live leases per key: read for the limited queues only (one query each)
        per_key = (await admin.queue(view.queue)).live_per_key if limits.limited else None
        rows.append(
            _queue_row(view.stats, sampler.rates(view.queue))
            | {
                "paused": view.paused,
                "limits": presentation.limits_text(limits),
                "live_leases": view.stats.live_leases,
                "live_per_key": presentation.per_key_text(per_key),
            }
        )
    return rows


def _queue_row(stats: QueueStats, rates: list[float]) -> dict[str, Any]:
    return {
        "queue": stats.queue,
        "counts": {s.value: stats.counts.get(s, 0) for s in TaskState},
        "ready": stats.ready,
        "scheduled": stats.scheduled,
        "oldest_ready_age": presentation.age(stats.oldest_ready_age),
        "sparkline": sparkline_points(rates),
        "rate": f"{rates[-1]:.2f}/s" if rates else "—",
        "samples": len(rates),
    }


@router.get("/tasks")
async def tasks_page(
    request: Request,
    svc: Service,
    current: SignedIn,
    queue: str = "",
    state: str = "",
    type: str = "",
    cursor: str = "",
) -> Response:
    return await _task_list(request, svc, current.csrf, queue, state, type, cursor, dead=False)


@router.get("/dead")
async def dead_page(
    request: Request,
    svc: Service,
    current: SignedIn,
    queue: str = "",
    type: str = "",
    cursor: str = "",
) -> Response:
    return await _task_list(request, svc, current.csrf, queue, "dead", type, cursor, dead=True)


async def _task_list(
    request: Request,
    svc: TaskService,
    csrf: str,
    queue: str,
    state_name: str,
    type: str,
    cursor: str,
    *,
    dead: bool,
) -> Response:
    filters = {"queue": queue.strip(), "state": state_name.strip(), "type": type.strip()}
    error = None
    tasks: list[Any] = []
    next_cursor = None
    try:
        for name in ("queue", "type"):
            if filters[name]:
                v.check_name(name, filters[name])
        chosen = TaskState(filters["state"]) if filters["state"] else None
        page = await svc.list(
            TaskFilter(
                filters["queue"] or None, chosen, filters["type"] or None, PAGE_SIZE, cursor or None
            )
        )
        tasks, next_cursor = page.tasks, page.next_cursor
    except ValueError:
        error = f"unknown state {filters['state']!r}"
    except ValidationError as exc:
        error = str(exc)
    base = "/console/dead" if dead else "/console/tasks"
    kept = {k: v for k, v in filters.items() if v and not (dead and k == "state")}
    context = {
        "dead": dead,
        "filters": filters,
        "states": [s.value for s in TaskState],
        "tasks": tasks,
        "error": error,
        "first_page": _link(base, kept) if cursor else None,
        "next_page": _link(base, {**kept, "cursor": next_cursor}) if next_cursor else None,
        "here": _link(base, {**kept, "cursor": cursor}),
        "csrf": csrf,
    }
    return render(request, "tasks.html", context, 422 if error else 200)


def _link(base: str, params: Mapping[str, str | None]) -> str:
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v})
    return f"{base}?{query}" if query else base


@router.get("/tasks/{id}")
async def task_page(id: str, request: Request, svc: Service, current: SignedIn) -> Response:
    try:
        task = await svc.get(UUID(id))
        history = await svc.history(task.id, limit=HISTORY_SIZE)
    except (ValueError, TaskNotFound):
        return render(request, "not_found.html", {"what": f"task {id}", "csrf": current.csrf}, 404)
    now = options(request).clock.now()
    context = {
        "task": task,
        "history": history,
        "history_size": HISTORY_SIZE,
        "time_left": presentation.time_left(task, now),
        "actions": presentation.actions_for(task),
        "labels": presentation.ACTIONS,
        "here": f"/console/tasks/{task.id}",
        "csrf": current.csrf,
    }
    return render(request, "task.html", context)
