"""Operator routes of periodic schedules: put, get, list, delete (ADR 0029)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from leaseq.adapters.http.auth import require
from leaseq.adapters.http.bodies import ScheduleIn
from leaseq.adapters.http.body_routes import BodyRoute, Call, add_body_route
from leaseq.adapters.http.openapi_doc import problem
from leaseq.adapters.http.producer_representations import schedule_json, schedule_spec
from leaseq.adapters.http.producer_schemas import ScheduleOut, SchedulesOut
from leaseq.adapters.http.responses import OrjsonResponse
from leaseq.adapters.http.use_cases import schedule_service
from leaseq.app.access import Scope
from leaseq.app.schedules import ScheduleService
from leaseq.domain import ScheduleNotFound, ValidationError
from leaseq.domain import validation as v

router = APIRouter(
    prefix="/v1/schedules",
    tags=["schedules"],
    dependencies=[Depends(require(Scope.ADMIN))],
    responses=problem(401, 403, 503),
)

Schedules = Annotated[ScheduleService, Depends(schedule_service)]


@router.get("", responses={200: {"model": SchedulesOut}})
async def list_schedules(schedules: Schedules) -> OrjsonResponse:
    """Every schedule, sorted by name."""
    return OrjsonResponse({"schedules": [schedule_json(s) for s in await schedules.list()]})


async def _put_schedule(body: ScheduleIn, call: Call) -> OrjsonResponse:
    """Create or replace a schedule: one task per fire time of `cron` in `timezone`."""
    name = v.check_name("name", call.params["name"])
    schedule, created = await call.runtime.schedules.put(schedule_spec(name, body))
    return OrjsonResponse(schedule_json(schedule), status_code=201 if created else 200)


PUT_SCHEDULE = BodyRoute(ScheduleIn, Scope.ADMIN, _put_schedule)
BODY_ROUTES = [PUT_SCHEDULE]

add_body_route(
    router,
    "/{name}",
    PUT_SCHEDULE,
    method="PUT",
    status_code=201,
    responses={
        201: {"model": ScheduleOut, "description": "created"},
        200: {"model": ScheduleOut, "description": "replaced"},
        **problem(408, 413, 422),
    },
)


@router.get("/{name}", responses={200: {"model": ScheduleOut}, **problem(404)})
async def get_schedule(name: str, schedules: Schedules) -> OrjsonResponse:
    """One schedule, with its next and last fire times."""
    return OrjsonResponse(schedule_json(await schedules.get(_known(name))))


@router.delete("/{name}", responses={200: {"model": ScheduleOut}, **problem(404)})
async def delete_schedule(name: str, schedules: Schedules) -> OrjsonResponse:
    """Delete a schedule (the tasks it enqueued stay); answers it as it was."""
    return OrjsonResponse(schedule_json(await schedules.delete(_known(name))))


def _known(name: str) -> str:
    """A name no schedule can have names none: 404, like any other unknown name."""
    try:
        return v.check_name("name", name)
    except ValidationError:
        raise ScheduleNotFound(name) from None
