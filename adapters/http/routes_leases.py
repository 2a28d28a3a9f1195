"""Worker routes: lease (with long polling), heartbeat, and the fenced results."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from leaseq.adapters.http import representations as rep
from leaseq.adapters.http.auth import require
from leaseq.adapters.http.fast_path import FastRoutes
from leaseq.adapters.http.json_body import OrjsonRoute
from leaseq.adapters.http.lean_route import lean, lean_spec
from leaseq.adapters.http.openapi_doc import problem
from leaseq.adapters.http.options import HttpOptions, duration, options, service, task_id
from leaseq.adapters.http.problems import problem_body
from leaseq.adapters.http.responses import OrjsonResponse
from leaseq.adapters.http.schemas import (
    CompleteIn,
    FailIn,
    HeartbeatIn,
    HeartbeatOut,
    LeaseIn,
    LeasesOut,
    ReleaseIn,
    ResultIn,
    ResultsIn,
    ResultsOut,
    RetryTaskIn,
    TaskOut,
)
from leaseq.app.access import Scope
from leaseq.app.services import TaskService
from leaseq.domain import DomainError, ValidationError
from leaseq.ports import Complete, Fail, LeaseRequest, Outcome, Retry, TypeFilter

router = APIRouter(
    route_class=OrjsonRoute,
    tags=["work"],
    dependencies=[Depends(require(Scope.WORK))],
    responses=problem(401, 403, 413, 422, 503),
)

Service = Annotated[TaskService, Depends(service)]
Options = Annotated[HttpOptions, Depends(options)]
FENCED = problem(404, 409)


async def lease(body: LeaseIn, svc: Service, opts: Options) -> OrjsonResponse:
    """Claim up to `max_tasks` ready tasks; waits up to `wait_seconds` when none is ready."""
    if not 0 <= body.wait_seconds <= opts.max_wait_seconds:
        raise ValidationError(
            "wait_seconds", f"must lie between 0 and {opts.max_wait_seconds:g} seconds"
        )
    types = None if body.types is None else [TypeFilter(t.type, t.version) for t in body.types]
    request = LeaseRequest(
        queue=body.queue,
        owner=body.worker_id,
        limit=body.max_tasks,
        lease_for=duration("lease_seconds", body.lease_seconds),
        types=types,
        request_id=body.request_id,
        repeat=body.repeat,
    )
    granted, waited = await svc.lease_timed(request, body.wait_seconds)
    leases = [rep.lease_json(t) for t in granted]
    # whole microseconds, rounded down: a lower bound stays a lower bound
    return OrjsonResponse({"leases": leases, "waited_seconds": math.floor(waited * 1e6) / 1e6})


async def heartbeat(id: str, body: HeartbeatIn, svc: Service) -> OrjsonResponse:
    """Extend a live lease to now + lease_seconds."""
    lease_for = duration("lease_seconds", body.lease_seconds)
    task = await svc.heartbeat(task_id(id), body.token, lease_for)
    return OrjsonResponse(rep.heartbeat_json(task))


@router.post("/v1/tasks/{id}/complete", responses={200: {"model": TaskOut}, **FENCED})
async def complete(id: str, body: CompleteIn, svc: Service) -> OrjsonResponse:
    """leased → succeeded, with the handler's result."""
    task = await svc.complete(task_id(id), body.token, body.result)
    return OrjsonResponse(rep.task_json(task))


@router.post("/v1/tasks/{id}/retry", responses={200: {"model": TaskOut}, **FENCED})
async def retry(id: str, body: RetryTaskIn, svc: Service) -> OrjsonResponse:
    """leased → pending after a delay (or dead when the attempts are used up)."""
    delay = None if body.delay_seconds is None else duration("delay_seconds", body.delay_seconds)
    task = await svc.retry(task_id(id), body.token, body.error, delay)
    return OrjsonResponse(rep.task_json(task))


@router.post("/v1/tasks/{id}/fail", responses={200: {"model": TaskOut}, **FENCED})
async def fail(id: str, body: FailIn, svc: Service) -> OrjsonResponse:
    """leased → dead with a fatal error."""
    task = await svc.fail(task_id(id), body.token, body.error)
    return OrjsonResponse(rep.task_json(task))


@router.post("/v1/tasks/{id}/release", responses={200: {"model": TaskOut}, **FENCED})
async def release(id: str, body: ReleaseIn, svc: Service) -> OrjsonResponse:
    """Give the task back without consuming the attempt (graceful shutdown)."""
    task = await svc.release(task_id(id), body.token)
    return OrjsonResponse(rep.task_json(task))


async def results(body: ResultsIn, svc: Service, opts: Options) -> OrjsonResponse:
    """Report many outcomes at once; each answer is the task, or the problem that one
    call alone would have answered."""
    if len(body.results) > opts.limits.max_batch:
        raise ValidationError("results", f"at most {opts.limits.max_batch} results per request")
    answers: list[dict[str, Any] | None] = [None] * len(body.results)
    outcomes: list[Outcome] = []
    positions: list[int] = []
    for index, item in enumerate(body.results):
        try:
            outcomes.append(_outcome(item))
            positions.append(index)
        except DomainError as error:
            answers[index] = _refused(item.task_id, error)
    reported = await svc.report(outcomes) if outcomes else []
    for index, answer in zip(positions, reported, strict=True):
        item = body.results[index]
        if isinstance(answer, DomainError):
            answers[index] = _refused(item.task_id, answer)
        elif body.include_tasks:
            answers[index] = {
                "task_id": item.task_id,
                "ok": True,
                "state": answer.state.value,
                "task": rep.task_json(answer),
            }
        else:
            answers[index] = {
                "task_id": item.task_id,
                "ok": True,
                "state": answer.state.value,
                "updated_at": rep.timestamp(answer.updated_at),
            }
    return OrjsonResponse({"results": answers})


async def _lean_lease(
    body: LeaseIn, svc: TaskService, opts: HttpOptions, params: dict[str, Any]
) -> OrjsonResponse:
    return await lease(body, svc, opts)


async def _lean_heartbeat(
    body: HeartbeatIn, svc: TaskService, opts: HttpOptions, params: dict[str, Any]
) -> OrjsonResponse:
    return await heartbeat(params["id"], body, svc)


async def _lean_results(
    body: ResultsIn, svc: TaskService, opts: HttpOptions, params: dict[str, Any]
) -> OrjsonResponse:
    return await results(body, svc, opts)


LEASE = lean_spec(LeaseIn, Scope.WORK, _lean_lease)
HEARTBEAT = lean_spec(HeartbeatIn, Scope.WORK, _lean_heartbeat)
RESULTS = lean_spec(ResultsIn, Scope.WORK, _lean_results)
# What the app's fast path serves in front of the framework (adapters/http/fast_path.py).
HOT_ROUTES = FastRoutes(
    exact={"/v1/leases": LEASE, "/v1/results": RESULTS}, task_actions={"heartbeat": HEARTBEAT}
)

# The worker's hot routes: declared as usual (OpenAPI), served by lean handlers.
router.add_api_route(
    "/v1/leases",
    lease,
    methods=["POST"],
    responses={200: {"model": LeasesOut}},
    route_class_override=lean(LEASE),
)
router.add_api_route(
    "/v1/tasks/{id}/heartbeat",
    heartbeat,
    methods=["POST"],
    responses={200: {"model": HeartbeatOut}, **FENCED},
    route_class_override=lean(HEARTBEAT),
)
router.add_api_route(
    "/v1/results",
    results,
    methods=["POST"],
    responses={200: {"model": ResultsOut}},
    route_class_override=lean(RESULTS),
)


def _outcome(item: ResultIn) -> Outcome:
    tid = task_id(item.task_id)
    if item.outcome == "complete":
        return Complete(tid, item.token, item.result)
    assert item.error is not None  # the schema requires it for retry and fail
    if item.outcome == "retry":
        delay = (
            None if item.delay_seconds is None else duration("delay_seconds", item.delay_seconds)
        )
        return Retry(tid, item.token, item.error, delay)
    return Fail(tid, item.token, item.error)


def _refused(task_id_text: str, error: DomainError) -> dict[str, Any]:
    return {"task_id": task_id_text, "ok": False, "problem": problem_body(error)}
