"""Worker routes: lease (with long polling), heartbeat, and the fenced results."""

from __future__ import annotations

from typing import Any, cast

from fastapi import APIRouter
from msgspec import Raw
from starlette.responses import Response

from leaseq.adapters.http import representations as rep
from leaseq.adapters.http.bodies import (
    CompleteIn,
    FailIn,
    HeartbeatIn,
    LeaseBatch,
    LeaseIn,
    ReleaseIn,
    ResultIn,
    ResultsBatch,
    ResultsIn,
    RetryTaskIn,
)
from leaseq.adapters.http.body_routes import BodyRoute, Call, add_body_route
from leaseq.adapters.http.decoding import decoder, where
from leaseq.adapters.http.fast_path import FastRoutes
from leaseq.adapters.http.lease_answers import granted_answer, leases_answer
from leaseq.adapters.http.openapi_doc import problem
from leaseq.adapters.http.options import duration, task_id
from leaseq.adapters.http.problems import problem_body
from leaseq.adapters.http.responses import OrjsonResponse
from leaseq.adapters.http.schemas import HeartbeatOut, LeasesOut, ResultsOut, TaskOut
from leaseq.app.access import Scope
from leaseq.domain import DomainError, ReportedTask, ValidationError
from leaseq.ports import Complete, Fail, LeaseRequest, Outcome, Retry, TypeFilter

router = APIRouter(tags=["work"], responses=problem(401, 403, 408, 413, 422, 503))

FENCED = problem(404, 409)


async def _lease(body: LeaseIn | LeaseBatch, call: Call) -> Response:
    """Claim up to `max_tasks` ready tasks; waits up to `wait_seconds` when none is ready.
    With `results`, the worker's finished tasks are reported first, in the same
    transaction, each answered as /v1/results would; such a request does not wait."""
    opts = call.options
    if body.wait_seconds > opts.max_wait_seconds:
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
    if body.results is None:
        return await granted_answer(call, request, body.wait_seconds)
    reports = _Reports(cast("list[ResultIn | Raw]", body.results), call, include_tasks=False)
    answers, granted = await call.service.report_and_lease(reports.outcomes, request)
    return await leases_answer(call, granted, results=reports.answered(answers))


async def _heartbeat(body: HeartbeatIn, call: Call) -> Response:
    """Extend a live lease to now + lease_seconds."""
    lease_for = duration("lease_seconds", body.lease_seconds)
    task = await call.service.heartbeat(task_id(call.params["id"]), body.token, lease_for)
    return OrjsonResponse(rep.heartbeat_json(task))


async def _complete(body: CompleteIn, call: Call) -> Response:
    """leased → succeeded, with the handler's result."""
    task = await call.service.complete(task_id(call.params["id"]), body.token, body.result)
    return OrjsonResponse(rep.task_json(task))


async def _retry(body: RetryTaskIn, call: Call) -> Response:
    """leased → pending after a delay (or dead when the attempts are used up)."""
    delay = None if body.delay_seconds is None else duration("delay_seconds", body.delay_seconds)
    task = await call.service.retry(task_id(call.params["id"]), body.token, body.error, delay)
    return OrjsonResponse(rep.task_json(task))


async def _fail(body: FailIn, call: Call) -> Response:
    """leased → dead with a fatal error."""
    task = await call.service.fail(task_id(call.params["id"]), body.token, body.error)
    return OrjsonResponse(rep.task_json(task))


async def _release(body: ReleaseIn, call: Call) -> Response:
    """Give the task back without consuming the attempt (graceful shutdown)."""
    task = await call.service.release(task_id(call.params["id"]), body.token)
    return OrjsonResponse(rep.task_json(task))


async def _results(body: ResultsIn | ResultsBatch, call: Call) -> Response:
    """Report many outcomes at once; each answer is the task, or the problem that one
    call alone would have answered (a malformed item included: the others still apply)."""
    given = cast("list[ResultIn | Raw]", body.results)
    reports = _Reports(given, call, include_tasks=body.include_tasks)
    reported = (
        await call.service.report(reports.outcomes, with_tasks=body.include_tasks)
        if reports.outcomes
        else []
    )
    return OrjsonResponse({"results": reports.answered(reported)})


_RESULT = decoder(ResultIn)


class _Reports:
    """A batch of results read item by item: the outcomes to apply, and per item its
    answer (a malformed or refused item's problem at once, the others once applied)."""

    def __init__(self, given: list[ResultIn | Raw], call: Call, *, include_tasks: bool) -> None:
        limit = call.options.limits.max_batch
        if len(given) > limit:
            raise ValidationError("results", f"at most {limit} results per request")
        self._include_tasks = include_tasks
        self._answers: list[dict[str, Any] | None] = [None] * len(given)
        self._positions: list[tuple[int, str]] = []
        self.outcomes: list[Outcome] = []
        for index, item in enumerate(given):
            if not isinstance(item, ResultIn):  # the schema refused an item of this batch
                try:
                    item = _RESULT.decode(item)
                except Exception as error:  # each item's own refusal, worded like a body's
                    self._answers[index] = _malformed(index, item, error)
                    continue
            try:
                self.outcomes.append(_outcome(item))
                self._positions.append((index, item.task_id))
            except DomainError as error:
                self._answers[index] = _refused(item.task_id, error)

    def answered(self, reported: list[ReportedTask | DomainError]) -> list[dict[str, Any] | None]:
        """Every item's answer, given the answers of `outcomes` in order (whole tasks
        when `include_tasks`: the service was asked for them)."""
        answers = self._answers
        for (index, item_id), answer in zip(self._positions, reported, strict=True):
            if isinstance(answer, DomainError):
                answers[index] = _refused(item_id, answer)
            elif self._include_tasks:
                assert answer.task is not None  # asked for with_tasks
                answers[index] = {
                    "task_id": item_id,
                    "ok": True,
                    "state": answer.state.value,
                    "task": rep.task_json(answer.task),
                }
            else:
                answers[index] = {
                    "task_id": item_id,
                    "ok": True,
                    "state": answer.state.value,
                    "updated_at": rep.timestamp(answer.updated_at),
                }
        return answers


LEASE = BodyRoute(LeaseIn, Scope.WORK, _lease, per_item=LeaseBatch)
HEARTBEAT = BodyRoute(HeartbeatIn, Scope.WORK, _heartbeat)
RESULTS = BodyRoute(ResultsIn, Scope.WORK, _results, per_item=ResultsBatch)
COMPLETE = BodyRoute(CompleteIn, Scope.WORK, _complete)
RETRY = BodyRoute(RetryTaskIn, Scope.WORK, _retry)
FAIL = BodyRoute(FailIn, Scope.WORK, _fail)
RELEASE = BodyRoute(ReleaseIn, Scope.WORK, _release)
BODY_ROUTES = [LEASE, HEARTBEAT, RESULTS, COMPLETE, RETRY, FAIL, RELEASE]
# What the app's fast path serves in front of the framework (adapters/http/fast_path.py).
HOT_ROUTES = FastRoutes(
    exact={"/v1/leases": LEASE, "/v1/results": RESULTS}, task_actions={"heartbeat": HEARTBEAT}
)

add_body_route(router, "/v1/leases", LEASE, responses={200: {"model": LeasesOut}})
add_body_route(
    router,
    "/v1/tasks/{id}/heartbeat",
    HEARTBEAT,
    responses={200: {"model": HeartbeatOut}, **FENCED},
)
for _action, _route in (
    ("complete", COMPLETE),
    ("retry", RETRY),
    ("fail", FAIL),
    ("release", RELEASE),
):
    add_body_route(
        router, f"/v1/tasks/{{id}}/{_action}", _route, responses={200: {"model": TaskOut}, **FENCED}
    )
add_body_route(router, "/v1/results", RESULTS, responses={200: {"model": ResultsOut}})


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


def _refused(task_id_text: str | None, error: DomainError) -> dict[str, Any]:
    return {"task_id": task_id_text, "ok": False, "problem": problem_body(error)}


def _malformed(index: int, raw: Any, error: Exception) -> dict[str, Any]:
    """The answer to an item its schema refuses: its task_id when one can be read."""
    field, message = where(str(error)) if str(error) else ("", "invalid")
    if isinstance(error, RecursionError):
        field, message = "", "JSON nested too deeply to read"
    name = f"results.{index}" + (f".{field}" if field != "body" and field else "")
    refusal = ValidationError(name, message)
    return _refused(_item_task_id(raw), refusal)


_ID_ONLY = decoder(dict[str, object])


def _item_task_id(raw: Any) -> str | None:
    try:
        found = _ID_ONLY.decode(raw).get("task_id")
    except Exception:
        return None
    return found if isinstance(found, str) and found.isprintable() else None
