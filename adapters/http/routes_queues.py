"""Operator routes: per-queue counts and settings; pause and resume (ADR 0028); flow-control
limits (ADR 0030)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from leaseq.adapters.http.auth import require
from leaseq.adapters.http.bodies import LimitsIn
from leaseq.adapters.http.body_routes import BodyRoute, Call, add_body_route
from leaseq.adapters.http.openapi_doc import problem
from leaseq.adapters.http.producer_representations import queue_limits, queue_state_json
from leaseq.adapters.http.producer_schemas import QueueStateOut, QueueStatesOut
from leaseq.adapters.http.responses import OrjsonResponse
from leaseq.adapters.http.use_cases import queue_admin
from leaseq.app.access import Scope
from leaseq.app.queue_control import QueueAdmin
from leaseq.domain import validation as v

router = APIRouter(
    prefix="/v1/queues",
    tags=["queues"],
    dependencies=[Depends(require(Scope.ADMIN))],
    responses=problem(401, 403, 503),
)

Queues = Annotated[QueueAdmin, Depends(queue_admin)]


@router.get("", responses={200: {"model": QueueStatesOut}})
async def queues(admin: Queues) -> OrjsonResponse:
    """Every queue that holds tasks or has settings, with its counts per state, its limits
    and its live leases."""
    return OrjsonResponse({"queues": [queue_state_json(q) for q in await admin.queues()]})


@router.get("/{queue}", responses={200: {"model": QueueStateOut}, **problem(422)})
async def queue(queue: str, admin: Queues) -> OrjsonResponse:
    """One queue's counts (zeros for a queue that holds no task), whether it is paused, its
    limits and its live leases, in all and per concurrency key."""
    return OrjsonResponse(queue_state_json(await admin.queue(queue)))


@router.post("/{queue}/pause", responses={200: {"model": QueueStateOut}, **problem(422)})
async def pause(queue: str, admin: Queues) -> OrjsonResponse:
    """Stop granting leases of the queue, on every replica at once (idempotent). Enqueue
    goes on; leases already held finish as usual; lease requests answer no task."""
    return OrjsonResponse(queue_state_json(await admin.pause(queue)))


@router.post("/{queue}/resume", responses={200: {"model": QueueStateOut}, **problem(422)})
async def resume(queue: str, admin: Queues) -> OrjsonResponse:
    """Grant leases of the queue again; waiting lease requests wake (idempotent)."""
    return OrjsonResponse(queue_state_json(await admin.resume(queue)))


async def _set_limits(body: LimitsIn, call: Call) -> OrjsonResponse:
    """Replace the queue's flow-control limits (all three; null lifts one), in force at the
    next grant on every replica: at most `concurrency` live leases on the queue, at most
    `concurrency_per_key` per concurrency key, leases started at most `rate_per_second`
    (bursts of one second's worth); grants of equal priority go round-robin across keys.
    Leases already held are untouched; an expired or ended lease frees its slot at once."""
    queue = v.check_name("queue", call.params["queue"])
    view = await call.runtime.queues.set_limits(queue, queue_limits(body))
    return OrjsonResponse(queue_state_json(view))


SET_LIMITS = BodyRoute(LimitsIn, Scope.ADMIN, _set_limits)
BODY_ROUTES = [SET_LIMITS]

add_body_route(
    router,
    "/{queue}/limits",
    SET_LIMITS,
    method="PUT",
    responses={200: {"model": QueueStateOut}, **problem(408, 413, 422)},
)
