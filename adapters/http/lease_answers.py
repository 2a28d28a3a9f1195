"""Granting leases only to a client that receives them.

Two ways a granted lease could be left with nobody to hold it, both closed here:
- the client of a long poll went away (`http.disconnect`) while it waited: the wait ends,
  nothing more is claimed, and whatever a claim granted meanwhile is released at once;
- a granted task cannot be written as JSON at all (no encoder writes it exactly): it is
  failed with an error that says so, visible in the dead-letter list, so it neither blocks
  the queue nor holds a lease; the other leases are answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from typing import Any

from starlette.responses import Response
from starlette.types import Receive

from leaseq.adapters.http import representations as rep
from leaseq.adapters.http.body_routes import Call
from leaseq.adapters.http.responses import json_bytes
from leaseq.domain import DomainError, Task
from leaseq.ports import LeaseRequest

log = logging.getLogger(__name__)

UNANSWERABLE = "the service cannot write this task as JSON for a worker"


async def granted_answer(call: Call, request: LeaseRequest, wait_seconds: float) -> Response:
    """The leases granted, and `waited_seconds`: how long the request waited before the
    claim that granted them (a lower bound, whole microseconds rounded down, ADR 0022)."""
    # A claim first: only a request that must wait pays for watching its connection.
    granted, waited = await call.service.lease(request, 0.0), 0.0
    if not granted and wait_seconds > 0:
        granted, waited = await _lease_while_connected(call, request, wait_seconds)
    return await leases_answer(call, granted, waited)


async def leases_answer(
    call: Call, granted: list[Task], waited: float = 0.0, results: list[Any] | None = None
) -> Response:
    """The answer that hands `granted` over (and the `results` of the reports that rode
    on the request, ADR 0033)."""
    parts: list[bytes] = []
    for task in granted:
        try:
            parts.append(json_bytes(rep.lease_json(task)))
        except (TypeError, ValueError, UnicodeEncodeError) as error:
            log.error("lease of task %s cannot be answered: %s", task.id, error)
            await _give_up(call, task, f"{UNANSWERABLE}: {error}")
    waited_text = repr(math.floor(waited * 1e6) / 1e6).encode()
    body = b'{"leases":[' + b",".join(parts) + b'],"waited_seconds":' + waited_text
    if results is not None:
        body += b',"results":' + json_bytes(results)
    body += b"}"
    return Response(body, 200, media_type="application/json")


async def _lease_while_connected(
    call: Call, request: LeaseRequest, wait_seconds: float
) -> tuple[list[Task], float]:
    gone = asyncio.Event()
    watcher = asyncio.create_task(_watch(call.receive, gone))
    try:
        granted, waited = await call.service.lease_timed(request, wait_seconds, gone=gone)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    if gone.is_set() and granted:  # the client left as the claim committed
        for task in granted:
            assert task.lease is not None
            with contextlib.suppress(DomainError):
                await call.service.release(task.id, task.lease.token)
        return [], waited
    return granted, waited


async def _watch(receive: Receive, gone: asyncio.Event) -> None:
    """Set `gone` when the client disconnects (the body was read: nothing else may come)."""
    message = await receive()
    if message["type"] == "http.disconnect":
        gone.set()


async def _give_up(call: Call, task: Task, error: str) -> None:
    assert task.lease is not None
    with contextlib.suppress(DomainError):
        await call.service.fail(task.id, task.lease.token, error)
