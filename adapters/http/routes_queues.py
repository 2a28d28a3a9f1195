"""Operator routes: per-queue counts and settings; pause and resume (ADR 0028)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from leaseq.adapters.http.auth import require
from leaseq.adapters.http.openapi_doc import problem
from leaseq.adapters.http.producer_representations import queue_state_json
from leaseq.adapters.http.producer_schemas import QueueStateOut, QueueStatesOut
from leaseq.adapters.http.responses import OrjsonResponse
from leaseq.adapters.http.use_cases import queue_admin
from leaseq.app.access import Scope
from leaseq.app.queue_control import QueueAdmin

router = APIRouter(
    prefix="/v1/queues",
    tags=["queues"],
    dependencies=[Depends(require(Scope.ADMIN))],
    responses=problem(401, 403, 503),
)

Queues = Annotated[QueueAdmin, Depends(queue_admin)]


@router.get("", responses={200: {"model": QueueStatesOut}})
async def queues(admin: Queues) -> OrjsonResponse:
    """Every queue that holds tasks or was paused, with its counts per state."""
    return OrjsonResponse({"queues": [queue_state_json(q) for q in await admin.queues()]})


@router.get("/{queue}", responses={200: {"model": QueueStateOut}, **problem(422)})
async def queue(queue: str, admin: Queues) -> OrjsonResponse:
    """One queue's counts (zeros for a queue that holds no task) and whether it is paused."""
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
