"""HTTP transport: the v1 API with a bearer token, over aiohttp (ADR 0020).

problem+json answers become typed SDK errors (`error_from_problem`, the one table of this
boundary); failures with no answer become TransportError, whose `request_sent` says
whether the request may have reached the service. This transport never sends a request
twice by itself (aiohttp re-sends only idempotent methods, and we send none of those
with a body): what may be re-sent, and how, is the caller's decision, per call
(docs/sdk.md, "What the SDK sends again").

Given several base URLs (service replicas), it talks to one at a time and moves to the
next after a failure with no answer, so the caller's re-send reaches a live replica.
"""

from __future__ import annotations

import builtins
import json as jsonlib
import urllib.parse
from collections.abc import Mapping, Sequence
from itertools import chain, compress, repeat
from operator import is_
from typing import Any

import aiohttp
import orjson

from leaseq.sdk import errors
from leaseq.sdk.transport import wire
from leaseq.sdk.transport.base import MAX_AWAIT, TaskId
from leaseq.sdk.transport.connection_errors import describe
from leaseq.sdk.types import (
    JSON,
    EnqueueResult,
    FlowLimits,
    LeaseInfo,
    LeaseRenewal,
    LeaseRequest,
    Outcome,
    QueueInfo,
    QueueState,
    Reported,
    ScheduleInfo,
    TaskEventInfo,
    TaskInfo,
    TaskPage,
    TaskRequest,
    TaskStateName,
)

_JSON_BODY = {"Content-Type": "application/json"}

# Time a long-poll lease request may take beyond its wait before we call it lost.
LONG_POLL_MARGIN = 10.0
# Connecting takes at most this long (and never longer than the call's own timeout).
CONNECT_TIMEOUT = 5.0


class HttpTransport:
    def __init__(
        self,
        base_url: str | Sequence[str],
        token: str | None = None,
        *,
        timeout: float = 10.0,
        max_connections: int = 100,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        fixed = {"Accept": "application/json", **(headers or {})}
        if token:
            fixed["Authorization"] = f"Bearer {token}"
        self._headers = _checked_headers(fixed)
        self._timeout = timeout
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        if not urls:
            raise ValueError("give at least one service URL")
        self._urls = [_base_url(url) for url in urls]
        self._current = 0
        self._max_connections = max_connections
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}
        # Made on first use, inside the event loop that uses it (aiohttp wants a loop).
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise errors.TransportError("the transport is closed", request_sent=False)
        self._session = aiohttp.ClientSession(
            headers=self._headers,
            connector=aiohttp.TCPConnector(limit=self._max_connections),
            cookie_jar=aiohttp.DummyCookieJar(),  # the API sets no cookies
            auto_decompress=False,  # nor compresses its answers
            raise_for_status=False,
        )
        return self._session

    def _timeout_of(self, seconds: float) -> aiohttp.ClientTimeout:
        found = self._timeouts.get(seconds)
        if found is None:
            found = aiohttp.ClientTimeout(total=seconds, connect=min(seconds, CONNECT_TIMEOUT))
            if len(self._timeouts) < 64:  # a few distinct waits in practice
                self._timeouts[seconds] = found
        return found

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        content = None if json is None else _encode(json)
        session = self._session or self._open()
        current = self._current
        try:
            async with session.request(
                method,
                self._urls[current] + path,
                data=content,
                headers=_JSON_BODY if content is not None else None,
                params=params,
                timeout=self._timeout_of(self._timeout if timeout is None else timeout),
            ) as response:
                status, body = response.status, await response.read()
                reason = response.reason or ""
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as error:
            self._next_url(current)  # no connection was opened: nothing was sent
            raise errors.TransportError(describe(error), request_sent=False) from error
        except (aiohttp.ClientError, TimeoutError) as error:
            self._next_url(current)  # it may have reached the service
            raise errors.TransportError(describe(error), request_sent=True) from error
        if 200 <= status < 300:
            # The service encodes with orjson, so orjson reads every answer it can send.
            return orjson.loads(body)
        raise _problem(status, reason, body)

    def _next_url(self, failed: int) -> None:
        """Move on from the replica that failed (once, however many calls saw it fail)."""
        if self._current == failed:
            self._current = (failed + 1) % len(self._urls)

    # producers
    async def enqueue(self, tasks: Sequence[TaskRequest]) -> builtins.list[EnqueueResult]:
        body = await self._call(
            "POST", "/v1/tasks", json={"tasks": [wire.task_request_body(t) for t in tasks]}
        )
        return wire.enqueue_results(body["tasks"])

    # workers
    async def lease(self, request: LeaseRequest) -> builtins.list[LeaseInfo]:
        body = await self._call(
            "POST",
            "/v1/leases",
            json=wire.lease_request_body(request),
            timeout=request.wait_seconds + max(self._timeout, LONG_POLL_MARGIN),
        )
        waited = float(body.get("waited_seconds") or 0.0)
        return [wire.lease_info(lease, waited) for lease in body["leases"]]

    async def heartbeat(self, task_id: TaskId, token: str, lease_seconds: float) -> LeaseRenewal:
        body = await self._call(
            "POST",
            _task_path(task_id, "heartbeat"),
            json={"token": token, "lease_seconds": lease_seconds},
        )
        return wire.lease_renewal(body)

    async def lease_and_report(
        self, request: LeaseRequest, outcomes: Sequence[Outcome]
    ) -> tuple[builtins.list[LeaseInfo], builtins.list[Reported | errors.LeaseqClientError]]:
        sent = wire.lease_request_body(request)
        sent["results"] = [wire.outcome_body(o) for o in outcomes]
        body = await self._call("POST", "/v1/leases", json=sent)  # answered without a wait
        waited = float(body.get("waited_seconds") or 0.0)
        leases = [wire.lease_info(lease, waited) for lease in body["leases"]]
        return leases, _reported(outcomes, body["results"])

    async def report(
        self, outcomes: Sequence[Outcome]
    ) -> builtins.list[Reported | errors.LeaseqClientError]:
        # Without the task objects: the worker needs each new state, nothing more.
        results = [wire.outcome_body(o) for o in outcomes]
        body = await self._call(
            "POST", "/v1/results", json={"results": results, "include_tasks": False}
        )
        return _reported(outcomes, body["results"])

    async def complete(self, task_id: TaskId, token: str, result: JSON = None) -> TaskInfo:
        body = {"token": token, "result": result}
        return wire.task_info(await self._call("POST", _task_path(task_id, "complete"), json=body))

    async def retry(
        self, task_id: TaskId, token: str, error: str, delay_seconds: float | None = None
    ) -> TaskInfo:
        body: dict[str, Any] = {"token": token, "error": error}
        if delay_seconds is not None:
            body["delay_seconds"] = delay_seconds
        return wire.task_info(await self._call("POST", _task_path(task_id, "retry"), json=body))

    async def fail(self, task_id: TaskId, token: str, error: str) -> TaskInfo:
        body = {"token": token, "error": error}
        return wire.task_info(await self._call("POST", _task_path(task_id, "fail"), json=body))

    async def release(self, task_id: TaskId, token: str) -> TaskInfo:
        body = {"token": token}
        return wire.task_info(await self._call("POST", _task_path(task_id, "release"), json=body))

    # operators
    async def get(self, task_id: TaskId) -> TaskInfo:
        return wire.task_info(await self._call("GET", _task_path(task_id)))

    async def wait(self, task_id: TaskId, wait_seconds: float) -> TaskInfo:
        wait = round(min(max(wait_seconds, 0.0), MAX_AWAIT), 3)
        body = await self._call(
            "GET",
            _task_path(task_id),
            params={"wait_seconds": wait},
            timeout=wait + max(self._timeout, LONG_POLL_MARGIN),
        )
        return wire.task_info(body)

    async def list(
        self,
        *,
        queue: str | None = None,
        state: TaskStateName | None = None,
        type: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> TaskPage:
        params = {"queue": queue, "state": state, "type": type, "limit": limit, "cursor": cursor}
        body = await self._call(
            "GET", "/v1/tasks", params={k: v for k, v in params.items() if v is not None}
        )
        return TaskPage([wire.task_info(t) for t in body["tasks"]], body.get("next_cursor"))

    async def history(self, task_id: TaskId, limit: int = 100) -> builtins.list[TaskEventInfo]:
        body = await self._call("GET", _task_path(task_id, "history"), params={"limit": limit})
        return [wire.task_event_info(e) for e in body["events"]]

    async def cancel(self, task_id: TaskId) -> TaskInfo:
        return wire.task_info(await self._call("POST", _task_path(task_id, "cancel")))

    async def requeue(self, task_id: TaskId) -> TaskInfo:
        return wire.task_info(await self._call("POST", _task_path(task_id, "requeue")))

    async def stats(self, queue: str | None = None) -> builtins.list[QueueInfo]:
        if queue is None:
            body = await self._call("GET", "/v1/queues")
            return [wire.queue_info(q) for q in body["queues"]]
        return [wire.queue_info(await self._call("GET", f"/v1/queues/{_quote(queue)}"))]

    async def queue(self, queue: str) -> QueueState:
        return wire.queue_state(await self._call("GET", f"/v1/queues/{_quote(queue)}"))

    async def set_paused(self, queue: str, paused: bool) -> QueueState:
        action = "pause" if paused else "resume"
        return wire.queue_state(await self._call("POST", f"/v1/queues/{_quote(queue)}/{action}"))

    async def set_limits(self, queue: str, limits: FlowLimits) -> QueueState:
        body = wire.limits_body(limits)
        path = f"/v1/queues/{_quote(queue)}/limits"
        return wire.queue_state(await self._call("PUT", path, json=body))

    async def put_schedule(
        self, name: str, cron: str, timezone: str, task: TaskRequest
    ) -> ScheduleInfo:
        body = wire.schedule_body(cron, timezone, task)
        answer = await self._call("PUT", f"/v1/schedules/{_quote(name)}", json=body)
        return wire.schedule_info(answer)

    async def schedule(self, name: str) -> ScheduleInfo:
        return wire.schedule_info(await self._call("GET", f"/v1/schedules/{_quote(name)}"))

    async def schedules(self) -> builtins.list[ScheduleInfo]:
        body = await self._call("GET", "/v1/schedules")
        return [wire.schedule_info(s) for s in body["schedules"]]

    async def delete_schedule(self, name: str) -> ScheduleInfo:
        return wire.schedule_info(await self._call("DELETE", f"/v1/schedules/{_quote(name)}"))

    async def aclose(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()


def _encode(body: Any) -> bytes:
    """As httpx would (NaN refused, non-ASCII kept), compact, with the standard library's
    semantics: orjson's text is sent only when it means what the standard library's would.

    orjson is ~15x faster on a batch but differs: NaN and infinities become null, a UUID
    or an Enum member a string or its value. What it refuses (integers past 64 bits,
    non-str keys, subclasses, dates, dataclasses: passed through to no `default`) raises.
    Its text is sent when `body` holds nothing but dicts, lists, tuples, str, int, float
    and bool (exact types: found level by level in C loops, no copy made) and the text no
    null (so no NaN); with a null, when it reads back equal to `body` (NaN is unequal even
    to itself). Otherwise the standard library encodes, or refuses, as before. Floats are
    written in their shortest exact form by both, so the values sent are the same.
    """
    try:
        fast = orjson.dumps(body, option=_STRICT)
        if b"null" in fast:
            if orjson.loads(fast) == body:
                return fast
        elif _types_within(body) <= _PLAIN:
            return fast
    except (TypeError, orjson.JSONDecodeError):
        pass
    return jsonlib.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


_PLAIN = frozenset({dict, list, tuple, str, int, float, bool})


def _types_within(body: Any) -> set[type]:
    """The exact types of `body` and of everything in it (dict values, list items)."""
    found: set[type] = set()
    level = [body]
    while level:
        kinds = set(map(type, level))
        found |= kinds
        nested: list[Any] = []
        for kind in kinds & _CONTAINERS:
            # this level's containers of `kind`, picked out without a Python loop
            items = (
                level
                if len(kinds) == 1
                else compress(level, map(is_, map(type, level), repeat(kind)))
            )
            nested.extend(chain.from_iterable(map(dict.values, items) if kind is dict else items))
        level = nested
    return found


_CONTAINERS = frozenset({dict, list, tuple})


_STRICT = (
    orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def _quote(segment: str) -> str:
    return urllib.parse.quote(str(segment), safe="")


def _task_path(task_id: TaskId, action: str | None = None) -> str:
    path = f"/v1/tasks/{_quote(str(task_id))}"
    return path if action is None else f"{path}/{action}"


def _problem(status: int, reason: str, content: bytes) -> errors.LeaseqClientError:
    try:
        body = jsonlib.loads(content)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = content.decode("utf-8", "replace")[:500]
        body = {"type": "error", "title": reason, "detail": text}
    return errors.error_from_problem(status, body)


_FORBIDDEN_IN_HEADERS = frozenset("\r\n\0")


def _checked_headers(headers: dict[str, str]) -> dict[str, str]:
    """`headers`, after refusing a name or value with CR, LF or NUL (InvalidHeaderValue),
    before anything is sent."""
    for name, value in headers.items():
        if not (_FORBIDDEN_IN_HEADERS.isdisjoint(name) and _FORBIDDEN_IN_HEADERS.isdisjoint(value)):
            raise errors.InvalidHeaderValue(name)
    return headers


def _base_url(url: str) -> str:
    """A service URL: http:// or https://, a host, maybe a path prefix (no query)."""
    parts = urllib.parse.urlsplit(url.rstrip("/"))
    try:
        port = parts.port  # reading it checks it is a number, 0-65535
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"not a service URL (its port is not 1-65535): {url!r}")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise ValueError(f"not a service URL (http:// or https://, a host): {url!r}")
    return url.rstrip("/")


def _reported(
    outcomes: Sequence[Outcome], items: Sequence[dict[str, Any]]
) -> builtins.list[Reported | errors.LeaseqClientError]:
    """Each outcome's answer: its new state, or the refusal for that one."""
    answers: list[Reported | errors.LeaseqClientError] = []
    for outcome, item in zip(outcomes, items, strict=True):
        if item.get("ok"):
            answers.append(wire.reported(outcome.task_id, item))
        else:
            problem = item.get("problem") or {}
            answers.append(errors.error_from_problem(int(problem.get("status", 409)), problem))
    return answers


__all__ = ["HttpTransport"]
