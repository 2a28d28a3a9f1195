"""Producer and operator routes: enqueue, get, list, cancel, requeue."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from leaseq.adapters.http import representations as rep
from leaseq.adapters.http.auth import require
from leaseq.adapters.http.enqueue_body import (
    DEFAULT_RETRY,
    EachEnqueue,
    PlainEnqueue,
    PlainTask,
    plain_enqueue,
)
from leaseq.adapters.http.fast_path import FastRoutes
from leaseq.adapters.http.json_body import OrjsonRoute
from leaseq.adapters.http.lean_route import lean, lean_spec
from leaseq.adapters.http.openapi_doc import problem
from leaseq.adapters.http.options import HttpOptions, duration, options, service, task_id
from leaseq.adapters.http.responses import OrjsonResponse
from leaseq.adapters.http.schemas import (
    EnqueueIn,
    EnqueueOut,
    HistoryOut,
    TaskIn,
    TaskOut,
    TaskPageOut,
)
from leaseq.app.access import Scope
from leaseq.app.services import TaskService
from leaseq.domain import Enqueued, NewTasks, RetryPolicy, TaskSpec, TaskState, ValidationError
from leaseq.ports import TaskFilter

router = APIRouter(
    prefix="/v1/tasks",
    tags=["tasks"],
    responses=problem(401, 403, 503),
    route_class=OrjsonRoute,
)

Service = Annotated[TaskService, Depends(service)]
Options = Annotated[HttpOptions, Depends(options)]


async def enqueue(body: EnqueueIn, svc: Service, opts: Options) -> Response:
    """Enqueue a batch of tasks atomically."""
    return await _enqueue(body, svc, opts)


async def _enqueue(
    body: EnqueueIn | PlainEnqueue | EachEnqueue, svc: TaskService, opts: HttpOptions
) -> Response:
    count = len(body.payloads if isinstance(body, EachEnqueue) else body.tasks)
    if not count:
        raise ValidationError("tasks", "give at least one task")
    if count > opts.limits.max_batch:
        raise ValidationError("tasks", f"at most {opts.limits.max_batch} tasks per request")
    answers: Sequence[Enqueued]
    if isinstance(body, EachEnqueue) and body.keys is None:
        new = await svc.enqueue_each(body.spec, body.payloads)
        return Response(rep.new_tasks_body(new), 201, media_type="application/json")
    if isinstance(body, EachEnqueue):  # each task keyed (the SDK's, ADR 0021)
        answers = await svc.enqueue_keyed(body.spec, body.payloads, body.keys or [])
        if isinstance(answers, NewTasks):  # every task new
            return Response(rep.new_tasks_body(answers), 201, media_type="application/json")
    else:
        specs = [item if isinstance(item, TaskSpec) else _spec(item) for item in body.tasks]
        answers = await svc.enqueue(specs)
    status = 200 if all(a.deduplicated for a in answers) else 201
    return OrjsonResponse({"tasks": rep.enqueued_json(answers)}, status_code=status)


async def _lean_enqueue(
    body: PlainEnqueue | EachEnqueue, svc: TaskService, opts: HttpOptions, params: dict[str, Any]
) -> Response:
    return await _enqueue(body, svc, opts)


ENQUEUE = lean_spec(EnqueueIn, Scope.PRODUCE, _lean_enqueue, plain_enqueue)
# What the app's fast path serves in front of the framework (adapters/http/fast_path.py).
HOT_ROUTES = FastRoutes(exact={"/v1/tasks": ENQUEUE}, task_actions={})

# The producer's hot route: declared as usual (OpenAPI), bodies of plain values are read
# without pydantic (enqueue_body.py); everything else is FastAPI's, as before.
router.add_api_route(
    "",
    enqueue,
    methods=["POST"],
    status_code=201,
    dependencies=[Depends(require(Scope.PRODUCE))],
    responses={
        201: {"model": EnqueueOut, "description": "created (some may be deduplicated)"},
        200: {"model": EnqueueOut, "description": "every task was deduplicated"},
        **problem(413, 422),
    },
    route_class_override=lean(ENQUEUE),
)


def _spec(item: TaskIn | PlainTask) -> TaskSpec:
    # A delay travels to the store, which adds it to its own clock (ADR 0003).
    delay = None
    if item.delay_seconds is not None:
        delay = duration("delay_seconds", item.delay_seconds)
    retry = RetryPolicy(**item.retry.model_dump()) if item.retry is not None else DEFAULT_RETRY
    return TaskSpec(
        queue=item.queue,
        type=item.type,
        payload=item.payload,
        type_version=item.type_version,
        labels=item.labels,
        priority=item.priority,
        run_at=item.run_at,
        delay=delay,
        max_attempts=item.max_attempts,
        retry_policy=retry,
        idempotency_key=item.idempotency_key,
    )


@router.get(
    "",
    dependencies=[Depends(require(Scope.ADMIN))],
    responses={200: {"model": TaskPageOut}, **problem(422)},
)
async def list_tasks(
    svc: Service,
    queue: str | None = None,
    state: TaskState | None = None,
    type: str | None = None,
    limit: Annotated[int, Query()] = 100,
    cursor: str | None = None,
) -> OrjsonResponse:
    """List tasks oldest first; `state=dead` is the dead-letter list."""
    page = await svc.list(TaskFilter(queue, state, type, limit, cursor))
    return OrjsonResponse(
        {"tasks": [rep.task_json(t) for t in page.tasks], "next_cursor": page.next_cursor}
    )


@router.get(
    "/{id}",
    dependencies=[Depends(require(Scope.ADMIN))],
    responses={200: {"model": TaskOut}, **problem(404)},
)
async def get_task(id: str, svc: Service) -> OrjsonResponse:
    """The task as it stands (the lease token is never shown)."""
    return OrjsonResponse(rep.task_json(await svc.get(task_id(id))))


@router.get(
    "/{id}/history",
    dependencies=[Depends(require(Scope.ADMIN))],
    responses={200: {"model": HistoryOut}, **problem(404, 422)},
)
async def task_history(
    id: str, svc: Service, limit: Annotated[int, Query()] = 100
) -> OrjsonResponse:
    """The task's most recent transitions (at most `limit`, 1..1000), oldest first."""
    events = await svc.history(task_id(id), limit)
    return OrjsonResponse({"events": [rep.event_json(e) for e in events]})


@router.post(
    "/{id}/cancel",
    dependencies=[Depends(require(Scope.ADMIN))],
    responses={200: {"model": TaskOut}, **problem(404, 409)},
)
async def cancel(id: str, svc: Service) -> OrjsonResponse:
    """Cancel a pending or leased task; a lease is revoked at once."""
    return OrjsonResponse(rep.task_json(await svc.cancel(task_id(id))))


@router.post(
    "/{id}/requeue",
    dependencies=[Depends(require(Scope.ADMIN))],
    responses={200: {"model": TaskOut}, **problem(404, 409)},
)
async def requeue(id: str, svc: Service) -> OrjsonResponse:
    """Redrive a dead or cancelled task: pending, attempts reset, ready at once."""
    return OrjsonResponse(rep.task_json(await svc.requeue(task_id(id))))
