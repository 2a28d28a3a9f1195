"""Requeue and cancel, for one task or many: a confirmation step, then the results.

Without JavaScript the confirm page is a real page; with it, a `<dialog>` asks and the
form posts straight to `apply`. Each task is its own transition: one refusal (say
`invalid_transition` for a task that is no longer dead) does not stop the others.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from uuid import UUID

from attrs import frozen
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from leaseq.adapters.http.console.presentation import ACTIONS
from leaseq.adapters.http.console.web import SignedIn, check_csrf, console_path, first, form, render
from leaseq.adapters.http.options import service
from leaseq.app.services import TaskService
from leaseq.domain import DomainError, Task, TaskNotFound

router = APIRouter(prefix="/console/actions", include_in_schema=False)

Service = Annotated[TaskService, Depends(service)]
MAX_TASKS = 500


@frozen
class Outcome:
    task_id: str
    task: Task | None
    refusal: str | None  # the problem code, e.g. invalid_transition
    detail: str | None


@router.post("/confirm")
async def confirm(request: Request, svc: Service, current: SignedIn) -> Response:
    fields = await form(request)
    check_csrf(request, current, fields)
    action, ids, back = _parsed(fields)
    if action is None or not ids:
        return _nothing(request, current.csrf, back, action)
    found: list[dict[str, Any]] = []
    for text in ids:
        found.append({"id": text, "task": await _get(svc, text)})
    context = {"action": action, "label": ACTIONS[action], "tasks": found, "back": back}
    return render(request, "confirm.html", {**context, "csrf": current.csrf})


@router.post("/apply")
async def apply(request: Request, svc: Service, current: SignedIn) -> Response:
    fields = await form(request)
    check_csrf(request, current, fields)
    action, ids, back = _parsed(fields)
    if action is None or not ids:
        return _nothing(request, current.csrf, back, action)
    transition = svc.requeue if action == "requeue" else svc.cancel
    outcomes = [await _apply_one(transition, text) for text in ids]
    context = {
        "action": action,
        "label": ACTIONS[action],
        "outcomes": outcomes,
        "done": sum(o.refusal is None for o in outcomes),
        "refused": sum(o.refusal is not None for o in outcomes),
        "back": back,
        "csrf": current.csrf,
    }
    return render(request, "results.html", context)


def _parsed(fields: dict[str, list[str]]) -> tuple[str | None, list[str], str]:
    action = first(fields, "action")
    ids = list(dict.fromkeys(t.strip() for t in fields.get("task", []) if t.strip()))
    back = console_path(first(fields, "back"), "/console/dead")
    return (action if action in ACTIONS else None), ids[:MAX_TASKS], back


async def _get(svc: TaskService, text: str) -> Task | None:
    try:
        return await svc.get(UUID(text))
    except (ValueError, TaskNotFound):
        return None


async def _apply_one(transition: Callable[[UUID], Awaitable[Task]], text: str) -> Outcome:
    try:
        task_id = UUID(text)
    except ValueError:
        return Outcome(text, None, TaskNotFound.code, f"task {text} not found")
    try:
        return Outcome(text, await transition(task_id), None, None)
    except DomainError as error:
        return Outcome(text, None, error.code, str(error))


def _nothing(request: Request, csrf: str, back: str, action: str | None) -> Response:
    message = "Choose requeue or cancel." if action is None else "Select at least one task."
    context = {"message": message, "back": back, "csrf": csrf}
    return render(request, "nothing_selected.html", context, 422)
