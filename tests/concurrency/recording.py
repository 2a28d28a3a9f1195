"""A transport wrapper that writes every lease call and its answer into an event history.

The SDK `Worker` runs unchanged on top of it, so the same checker (history.py) judges
real workers: grants, heartbeats and reported results, each with the caller's monotonic
`sent`/`answered` and the store-clock instants the HTTP answers carry. Each event is one
line, written and flushed at once, so a SIGKILL loses at most the call in flight.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from leaseq.sdk import errors
from leaseq.sdk.transport.base import TaskId, Transport
from leaseq.sdk.types import LeaseInfo, LeaseRenewal, LeaseRequest, Outcome, Reported, TaskInfo
from tests.concurrency.history import Event, History


class EventLog:
    """Events appended to a JSON-lines file, one flushed line each."""

    def __init__(self, path: Path) -> None:
        self._file: IO[str] = path.open("a", buffering=1)

    def add(self, event: Event) -> None:
        self._file.write(event.to_json() + "\n")

    def close(self) -> None:
        self._file.close()


def load_history(paths: Sequence[Path]) -> History:
    """Events of every file; a line cut short by a SIGKILL is skipped."""
    events = []
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            try:
                events.append(Event.from_json(line))
            except ValueError:
                continue
    return History(events)


class RecordingTransport:
    def __init__(self, inner: Transport, actor: str, log: EventLog) -> None:
        self._inner = inner
        self._actor = actor
        self._log = log
        self._epochs: dict[str, int] = {}  # token → epoch of its grant
        self._lease_for: dict[str, float] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def lease(self, request: LeaseRequest) -> list[LeaseInfo]:
        sent = time.monotonic()
        try:
            leases = await self._inner.lease(request)
        except errors.LeaseqClientError as error:
            # The store may have granted leases this call never delivered: the checker
            # weighs the store's grants against the calls that failed (`lost-grant`).
            self._refused("lease", "", "", error, sent)
            raise
        self._granted(request, leases, sent, time.monotonic())
        return leases

    async def lease_and_report(
        self, request: LeaseRequest, outcomes: Sequence[Outcome]
    ) -> tuple[list[LeaseInfo], list[Reported | errors.LeaseqClientError]]:
        """Recorded as the report it starts with, then the lease (ADR 0033)."""
        sent = time.monotonic()
        try:
            leases, answers = await self._inner.lease_and_report(request, outcomes)
        except errors.LeaseqClientError as error:
            for outcome in outcomes:
                self._refused(outcome.kind, outcome.task_id, outcome.token, error, sent)
            self._refused("lease", "", "", error, sent)
            raise
        answered = time.monotonic()
        self._answered(outcomes, answers, sent, answered)
        self._granted(request, leases, sent, answered)
        return leases, answers

    def _granted(
        self, request: LeaseRequest, leases: list[LeaseInfo], sent: float, answered: float
    ) -> None:
        lease_for = timedelta(seconds=request.lease_seconds)
        for lease in leases:
            self._epochs[lease.token] = lease.epoch
            self._lease_for[lease.token] = request.lease_seconds
            self._log.add(
                Event(
                    "grant",
                    str(lease.task_id),
                    self._actor,
                    True,
                    lease.token,
                    lease.epoch,
                    at=lease.expires_at - lease_for,
                    expires_at=lease.expires_at,
                    state="leased",
                    sent=sent,
                    answered=answered,
                )
            )

    async def heartbeat(self, task_id: TaskId, token: str, lease_seconds: float) -> LeaseRenewal:
        sent = time.monotonic()
        try:
            renewal = await self._inner.heartbeat(task_id, token, lease_seconds)
        except errors.LeaseqClientError as error:
            self._refused("heartbeat", task_id, token, error, sent)
            raise
        self._log.add(
            Event(
                "heartbeat",
                str(task_id),
                self._actor,
                True,
                token,
                renewal.epoch,
                at=renewal.expires_at - timedelta(seconds=lease_seconds),
                expires_at=renewal.expires_at,
                state="leased",
                sent=sent,
                answered=time.monotonic(),
            )
        )
        return renewal

    async def report(
        self, outcomes: Sequence[Outcome]
    ) -> list[Reported | errors.LeaseqClientError]:
        sent = time.monotonic()
        try:
            answers = await self._inner.report(outcomes)
        except errors.LeaseqClientError as error:
            for outcome in outcomes:
                self._refused(outcome.kind, outcome.task_id, outcome.token, error, sent)
            raise
        self._answered(outcomes, answers, sent, time.monotonic())
        return answers

    def _answered(
        self,
        outcomes: Sequence[Outcome],
        answers: Sequence[Reported | errors.LeaseqClientError],
        sent: float,
        answered: float,
    ) -> None:
        for outcome, answer in zip(outcomes, answers, strict=True):
            if isinstance(answer, errors.LeaseqClientError):
                self._refused(outcome.kind, outcome.task_id, outcome.token, answer, sent, answered)
            else:
                self._accepted(outcome.kind, answer, outcome.token, sent, answered)

    async def release(self, task_id: TaskId, token: str) -> TaskInfo:
        sent = time.monotonic()
        try:
            task = await self._inner.release(task_id, token)
        except errors.LeaseqClientError as error:
            self._refused("release", task_id, token, error, sent)
            raise
        self._accepted("release", task, token, sent, time.monotonic())
        return task

    def _accepted(
        self, op: str, task: TaskInfo | Reported, token: str, sent: float, answered: float
    ) -> None:
        task_id = task.id if isinstance(task, TaskInfo) else task.task_id
        self._log.add(
            Event(
                op,
                str(task_id),
                self._actor,
                True,
                token,
                self._epochs.get(token),
                at=task.updated_at,
                state=task.state,
                sent=sent,
                answered=answered,
            )
        )

    def _refused(
        self,
        op: str,
        task_id: TaskId,
        token: str,
        error: errors.LeaseqClientError,
        sent: float,
        answered: float | None = None,
    ) -> None:
        # A call with no answer may have been applied: it is written down as unanswered,
        # which the checker treats as not accepted (it cannot know).
        code = error.code if not isinstance(error, errors.TransportError) else "unanswered"
        self._log.add(
            Event(
                op,
                str(task_id),
                self._actor,
                False,
                token,
                self._epochs.get(token),
                error=code,
                sent=sent,
                answered=answered if answered is not None else time.monotonic(),
            )
        )
