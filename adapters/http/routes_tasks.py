"""Producer and operator routes: enqueue, get, list, cancel, requeue."""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from leaseq.adapters.http import representations as rep
from leaseq.adapters.http.auth import require
from leaseq.adapters.http.bodies import EnqueueIn, TaskIn
from leaseq.adapters.http.body_routes import BodyRoute, Call, add_body_route
from leaseq.adapters.http.fast_path import FastRoutes
from leaseq.adapters.http.openapi_doc import problem
from leaseq.adapters.http.options import duration, service, task_id
from leaseq.adapters.http.responses import OrjsonResponse
from leaseq.adapters.http.schemas import EnqueueOut, HistoryOut, TaskOut, TaskPageOut
from leaseq.app.access import Scope
from leaseq.app.services import TaskService
from leaseq.domain import Enqueued, NewTasks, RetryPolicy, TaskSpec, TaskState, ValidationError
from leaseq.domain.validation import NAME_PATTERN_ANCHORED
from leaseq.ports import TaskFilter

router = APIRouter(prefix="/v1/tasks", tags=["tasks"], responses=problem(401, 403, 503))

Service = Annotated[TaskService, Depends(service)]
DEFAULT_RETRY = RetryPolicy()  # frozen: one shared instance, validated once
MAX_AWAIT_SECONDS = 60.0
WaitSeconds = Annotated[
    float | None,
    Query(
        ge=0,
        le=MAX_AWAIT_SECONDS,
        allow_inf_nan=False,
        description="await the task's final state up to this many seconds (0-60)",
    ),
]


async def _enqueue(body: EnqueueIn, call: Call) -> Response:
    """Enqueue a batch of tasks atomically."""
    opts, tasks = call.options, body.tasks
    if len(tasks) > opts.limits.max_batch:
        raise ValidationError("tasks", f"at most {opts.limits.max_batch} tasks per request")
    answers: Sequence[Enqueued] | None = None
    if _one_spec(tasks):  # what an SDK batch is: one spec, its payloads (and keys)
        spec, payloads = _spec(tasks[0]), [t.payload for t in tasks]
        keys = [t.idempotency_key for t in tasks]
        if set(keys) == {None}:
            new = await call.service.enqueue_each(spec, payloads)
            return Response(rep.new_tasks_body(new), 201, media_type="application/json")
        if None not in keys:  # each task keyed (the SDK's, ADR 0021)
            keyed = await call.service.enqueue_keyed(spec, payloads, keys)  # type: ignore[arg-type]  # no None in keys
            if isinstance(keyed, NewTasks):  # every task new
                return Response(rep.new_tasks_body(keyed), 201, media_type="application/json")
            answers = keyed
    if answers is None:
        answers = await call.service.enqueue([_spec(task) for task in tasks])
    status = 200 if all(a.deduplicated for a in answers) else 201
    return OrjsonResponse({"tasks": rep.enqueued_json(answers)}, status_code=status)


_SHARED = attrgetter("queue", "type", "type_version", "priority", "max_attempts", "concurrency_key")
_ONCE_EACH = attrgetter("run_at", "delay_seconds", "retry")
_NONE_EACH = (None, None, None)


def _one_spec(tasks: list[TaskIn]) -> bool:
    """Whether the batch is one spec, its payloads and (maybe) a key each: the same names,
    numbers and labels, and no time or retry policy of its own (ADR 0015, 0021). Found by
    C loops over the decoded tasks."""
    first = tasks[0]
    return (
        set(map(_ONCE_EACH, tasks)) == {_NONE_EACH}
        and len(set(map(_SHARED, tasks))) == 1
        and all(t.labels == first.labels for t in tasks)
    )


ENQUEUE = BodyRoute(EnqueueIn, Scope.PRODUCE, _enqueue)
BODY_ROUTES = [ENQUEUE]
# What the app's fast path serves in front of the framework (adapters/http/fast_path.py).
HOT_ROUTES = FastRoutes(exact={"/v1/tasks": ENQUEUE}, task_actions={})

add_body_route(
    router,
    "",
    ENQUEUE,
    status_code=201,
    responses={
        201: {"model": EnqueueOut, "description": "created (some may be deduplicated)"},
        200: {"model": EnqueueOut, "description": "every task was deduplicated"},
        **problem(408, 413, 422),
    },
)


def _spec(item: TaskIn) -> TaskSpec:
    # A delay travels to the store, which adds it to its own clock (ADR 0003); the domain
    # refuses it beside run_at, or out of range.
    delay = None
    if item.delay_seconds is not None:
        delay = duration("delay_seconds", item.delay_seconds)
    retry = item.retry
    policy = (
        DEFAULT_RETRY
        if retry is None
        else RetryPolicy(retry.base_seconds, retry.factor, retry.max_seconds, retry.jitter)
    )
    # positional: TaskSpec(queue, type, payload, type_version, labels, priority, run_at,
    # max_attempts, retry_policy, idempotency_key, delay, concurrency_key), a keyword call
    # costs more per task
    return TaskSpec(
        item.queue,
        item.type,
        item.payload,
        item.type_version,
        item.labels,
        item.priority,
        item.run_at,
        item.max_attempts,
        policy,
        item.idempotency_key,
        delay,
        item.concurrency_key,
    )


Name = Annotated[str | None, Query(min_length=1, max_length=128, pattern=NAME_PATTERN_ANCHORED)]


@router.get(
    "",
    dependencies=[Depends(require(Scope.ADMIN))],
    responses={200: {"model": TaskPageOut}, **problem(422)},
)
async def list_tasks(
    svc: Service,
    queue: Name = None,
    state: TaskState | None = None,
    type: Name = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=64, pattern=r"^[0-9A-Fa-f-]+$")] = None,
) -> OrjsonResponse:
    """List tasks oldest first; `state=dead` is the dead-letter list."""
    page = await svc.list(TaskFilter(queue, state, type, limit, cursor))
    return OrjsonResponse(
        {"tasks": [rep.task_json(t) for t in page.tasks], "next_cursor": page.next_cursor}
    )


# A producer reads and awaits the tasks it enqueued (by id: listing stays with operators).
@router.get(
    "/{id}",
    dependencies=[Depends(require(Scope.ADMIN, Scope.PRODUCE))],
    responses={200: {"model": TaskOut}, **problem(404, 422)},
)
async def get_task(id: str, svc: Service, wait_seconds: WaitSeconds = None) -> OrjsonResponse:
    """The task as it stands (the lease token is never shown). With `wait_seconds` (0-60),
    answers as soon as the task is final (succeeded, dead, cancelled), or after that wait
    with the task as it then stands."""
    if wait_seconds:  # await a result (ADR 0028)
        return OrjsonResponse(rep.task_json(await svc.wait(task_id(id), wait_seconds)))
    return OrjsonResponse(rep.task_json(await svc.get(task_id(id))))


@router.get(
    "/{id}/history",
    dependencies=[Depends(require(Scope.ADMIN))],
    responses={200: {"model": HistoryOut}, **problem(404, 422)},
)
async def task_history(
    id: str, svc: Service, limit: Annotated[int, Query(ge=1, le=1000)] = 100
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
