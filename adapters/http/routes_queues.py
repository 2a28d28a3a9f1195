"""Operator routes: per-queue counts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from leaseq.adapters.http import representations as rep
from leaseq.adapters.http.auth import require
from leaseq.adapters.http.openapi_doc import problem
from leaseq.adapters.http.options import service
from leaseq.adapters.http.responses import OrjsonResponse
from leaseq.adapters.http.schemas import QueueOut, QueuesOut
from leaseq.app.access import Scope
from leaseq.app.services import TaskService
from leaseq.domain import validation as v

router = APIRouter(
    prefix="/v1/queues",
    tags=["queues"],
    dependencies=[Depends(require(Scope.ADMIN))],
    responses=problem(401, 403, 503),
)

Service = Annotated[TaskService, Depends(service)]


@router.get("", responses={200: {"model": QueuesOut}})
async def queues(svc: Service) -> OrjsonResponse:
    """Every queue that holds tasks, with its counts per state."""
    return OrjsonResponse({"queues": [rep.queue_json(s) for s in await svc.stats()]})


@router.get("/{queue}", responses={200: {"model": QueueOut}, **problem(422)})
async def queue(queue: str, svc: Service) -> OrjsonResponse:
    """One queue's counts (zeros for a queue that holds no task)."""
    v.check_name("queue", queue)
    (stats,) = await svc.stats(queue)
    return OrjsonResponse(rep.queue_json(stats))
