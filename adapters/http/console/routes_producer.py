"""The console's queue controls (pause, resume) and its schedules page (ADRs 0028, 0029).

Plain forms with the session's CSRF token; a schedule is deleted only after a confirmation
page (no JavaScript needed).
"""

from __future__ import annotations

import urllib.parse
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from leaseq.adapters.http.console.web import SignedIn, check_csrf, first, form, redirect, render
from leaseq.adapters.http.use_cases import queue_admin, schedule_service
from leaseq.app.queue_control import QueueAdmin
from leaseq.app.schedules import ScheduleService
from leaseq.domain import ScheduleNotFound, ValidationError

router = APIRouter(prefix="/console", include_in_schema=False)

Queues = Annotated[QueueAdmin, Depends(queue_admin)]
Schedules = Annotated[ScheduleService, Depends(schedule_service)]


@router.post("/queues/{queue}/pause")
async def pause(queue: str, request: Request, admin: Queues, current: SignedIn) -> Response:
    return await _set_paused(queue, True, request, admin, current)


@router.post("/queues/{queue}/resume")
async def resume(queue: str, request: Request, admin: Queues, current: SignedIn) -> Response:
    return await _set_paused(queue, False, request, admin, current)


async def _set_paused(
    queue: str, paused: bool, request: Request, admin: QueueAdmin, current: SignedIn
) -> Response:
    check_csrf(request, current, await form(request))
    try:
        await (admin.pause(queue) if paused else admin.resume(queue))
    except ValidationError as error:
        return render(request, "refused.html", {"message": str(error), "csrf": current.csrf}, 422)
    return redirect("/console/queues")


@router.get("/schedules")
async def schedules_page(request: Request, schedules: Schedules, current: SignedIn) -> Response:
    context = {"schedules": await schedules.list(), "csrf": current.csrf}
    return render(request, "schedules.html", context)


@router.post("/schedules/{name}/delete")
async def delete_schedule(
    name: str, request: Request, schedules: Schedules, current: SignedIn
) -> Response:
    fields = await form(request)
    check_csrf(request, current, fields)
    try:
        found = await schedules.get(name)
        if first(fields, "confirmed") != "yes":
            return render(
                request, "confirm_schedule.html", {"schedule": found, "csrf": current.csrf}
            )
        await schedules.delete(name)
    except ScheduleNotFound:
        what = {"what": f"schedule {name}", "csrf": current.csrf}
        return render(request, "not_found.html", what, 404)
    return redirect("/console/schedules?deleted=" + urllib.parse.quote(name, safe=""))
