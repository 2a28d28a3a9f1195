"""What the SDK sends again after a call may have reached the service, decided per call.

A call whose answer was lost (the connection broke after the request was written, a
timeout, a reset mid-answer, a 503) may or may not have taken effect. It is sent again
only when a repeat cannot add a second effect (docs/sdk.md, "What the SDK sends again";
docs/adr/0021-repeated-reports-and-lease-requests.md):

- enqueue: every task carries an idempotency key (made here when the caller gave none),
  so a repeat answers the first tasks, marked deduplicated;
- lease: the request carries an id; a repeat says so and is answered with the leases
  the first one was granted, so no task waits out a lease nobody holds; the results
  riding on it (ADR 0033) are reports, and go again with it;
- reports (complete, retry, fail, release, and the batch) are idempotent on the
  service: a repeat gets the first answer; heartbeats only extend a live lease;
- cancel and requeue are not sent again (a repeat of an applied one is refused).
A call that never left (no connection was opened) may always be sent again.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from itertools import repeat
from operator import attrgetter
from typing import TypeVar

from attrs import evolve, fields

from leaseq.sdk.errors import LeaseqClientError
from leaseq.sdk.retrying import RetryRule, with_retries
from leaseq.sdk.transport.base import TaskId, Transport
from leaseq.sdk.types import LeaseInfo, LeaseRequest, Outcome, Reported, TaskInfo, TaskRequest

T = TypeVar("T")

KEY_PREFIX = "sdk:"
# A lease request whose answer was lost is sent again this many times in all, quickly:
# the leases it may hold run out otherwise.
LEASE_RESENDS = RetryRule(attempts=4, base_seconds=0.05, max_seconds=1.0)
RELEASE_RESENDS = RetryRule(attempts=4, base_seconds=0.05, max_seconds=1.0)


def new_request_id() -> str:
    """A fresh random name (128 bits, URL-safe) for one call."""
    return secrets.token_urlsafe(16)


def with_idempotency_keys(requests: Sequence[TaskRequest]) -> list[TaskRequest]:
    """The requests, each without a key given one: "sdk:<random>:<index in the batch>"
    (one random part per call), so a repeat of the batch makes no task twice."""
    given = list(map(_KEY, requests))
    if None not in given:
        return list(requests)
    prefix = f"{KEY_PREFIX}{new_request_id()}:"
    if given.count(None) == len(given):  # the usual batch: no key given
        return _keyed(requests, [f"{prefix}{i}" for i in range(len(requests))])
    missing = [i for i, key in enumerate(given) if key is None]
    keyed = list(requests)
    copies = _keyed([requests[i] for i in missing], [f"{prefix}{i}" for i in missing])
    for i, copy in zip(missing, copies, strict=True):
        keyed[i] = copy
    return keyed


_KEY = attrgetter("idempotency_key")
# Each field's getter and its slot's setter, which sets a frozen instance's own field as
# attrs' __init__ does (object.__setattr__), without a Python call per field and task.
_COPIED = tuple(
    (attrgetter(f.name), vars(TaskRequest)[f.name].__set__)
    for f in fields(TaskRequest)
    if f.name != "idempotency_key"
)
_SET_KEY = vars(TaskRequest)["idempotency_key"].__set__


def _keyed(requests: Sequence[TaskRequest], keys: Sequence[str]) -> list[TaskRequest]:
    """`[evolve(r, idempotency_key=k) for r, k in zip(requests, keys)]` for a third of
    its cost (a batch of a thousand is keyed per call): copies of the already converted
    fields, field by field over the whole batch in C loops (map), then the keys."""
    copies = list(map(object.__new__, repeat(TaskRequest, len(requests))))
    for get, put in _COPIED:
        deque(map(put, copies, map(get, requests)), maxlen=0)
    deque(map(_SET_KEY, copies, keys), maxlen=0)
    return copies


async def lease(transport: Transport, request: LeaseRequest) -> list[LeaseInfo]:
    """`transport.lease`, sent again (marked a repeat, under the same request id) while
    its answer is lost, up to LEASE_RESENDS; then the error is raised, and what the lost
    answers held comes back when those leases expire."""
    return await _resent(request, transport.lease)


async def lease_and_report(
    transport: Transport, request: LeaseRequest, outcomes: Sequence[Outcome]
) -> tuple[list[LeaseInfo], list[Reported | LeaseqClientError]]:
    """`transport.lease_and_report`, sent again as `lease` is, with the same outcomes: a
    repeat of an applied outcome is answered with its first answer (ADR 0021)."""
    return await _resent(request, lambda sent: transport.lease_and_report(sent, outcomes))


async def _resent(request: LeaseRequest, call: Callable[[LeaseRequest], Awaitable[T]]) -> T:
    first = request
    if request.request_id is None or request.repeat:
        first = evolve(request, request_id=request.request_id or new_request_id(), repeat=False)
    sent = 0

    async def send() -> T:
        # the first time as it is; every time after, the same request marked a repeat
        nonlocal sent
        sent += 1
        return await call(first if sent == 1 else evolve(first, repeat=True))

    return await with_retries(send, safe=True, rule=LEASE_RESENDS)


async def release(transport: Transport, task_id: TaskId, token: str) -> TaskInfo:
    """`transport.release`, sent again while its answer is lost (a repeat gets the first
    answer), up to RELEASE_RESENDS."""
    return await with_retries(
        lambda: transport.release(task_id, token), safe=True, rule=RELEASE_RESENDS
    )


__all__ = [
    "KEY_PREFIX",
    "lease",
    "lease_and_report",
    "new_request_id",
    "release",
    "with_idempotency_keys",
]
