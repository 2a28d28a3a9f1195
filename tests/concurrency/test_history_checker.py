"""The checker catches planted violations: a store that accepts stale tokens is exposed, and
a grant that never reached its worker is seen from the store's own history."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from attrs import evolve

from leaseq.adapters.memory import InMemoryNotifier, InMemoryTaskStore
from leaseq.adapters.system import RandomJitter
from leaseq.app.services import LongPoll, TaskService
from leaseq.domain import JSON, Task, TaskState
from leaseq.sdk import Client, TaskContext, Worker
from leaseq.sdk.transport.base import Transport
from leaseq.sdk.transport.inprocess import InProcessTransport
from leaseq.sdk.types import LeaseInfo, LeaseRequest
from tests.concurrency.actors import race_in_one_loop
from tests.concurrency.history import Event, History, check
from tests.concurrency.judge import stored_events
from tests.concurrency.recording import EventLog, RecordingTransport, load_history

T0 = datetime.fromisoformat("2026-01-01T00:00:00+00:00")


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _grant(token: str, epoch: int, start: float, until: float) -> Event:
    """A grant answered at caller time `start` (the same scale as the store's seconds)."""
    return Event(
        "grant",
        "t1",
        "w",
        True,
        token,
        epoch,
        _at(start),
        _at(until),
        "leased",
        sent=start,
        answered=start,
    )


def _result(op: str, token: str, epoch: int, at: float, state: str = "succeeded") -> Event:
    return Event(op, "t1", "w", True, token, epoch, _at(at), None, state, sent=at, answered=at)


def test_overlapping_live_leases_are_reported_as_two_owners() -> None:
    history = History([_grant("a", 1, 0, 10), _grant("b", 2, 5, 15)])
    assert [v.rule for v in check(history)] == ["single-owner"]


def test_a_grant_that_waited_for_the_previous_result_is_not_two_owners() -> None:
    # PostgreSQL's now() is the transaction start: the claim may carry an earlier instant
    # than the release it waited for, although it was answered after that release was sent.
    release = Event(
        "release", "t1", "w", True, "a", 1, _at(5.0001), None, "pending", sent=4.9, answered=5.1
    )
    grant = Event(
        "grant", "t1", "v", True, "b", 2, _at(5.0), _at(15), "leased", sent=4.95, answered=5.2
    )
    assert check(History([_grant("a", 1, 0, 10), release, grant])) == []


def test_a_result_from_a_superseded_lease_is_reported() -> None:
    history = History(
        [
            _grant("a", 1, 0, 10),
            _grant("b", 2, 11, 21),
            _result("complete", "a", 1, 12),
        ]
    )
    rules = {v.rule for v in check(history)}
    assert {"stale-token", "expired-token", "newest-lease"} <= rules


def test_two_accepted_results_for_one_task_are_reported() -> None:
    history = History(
        [
            _grant("a", 1, 0, 10),
            _result("complete", "a", 1, 1),
            _result("complete", "a", 1, 2),
        ]
    )
    assert "one-result" in {v.rule for v in check(history)}


def test_a_task_left_open_is_reported_as_lost() -> None:
    history = History(
        [
            Event("enqueue", "t1", "p", True),
            Event("final", "t1", "checker", True, state="pending"),
        ]
    )
    assert [v.rule for v in check(history)] == ["nothing-lost"]


class StaleTokenStore(InMemoryTaskStore):
    """A planted bug: completes by id, like the queues that do not fence."""

    async def complete(
        self, task_id: UUID, token: str, result: JSON = None, *, now: datetime | None = None
    ) -> Task:
        at = self._now(now)
        task = self._find(task_id)
        if task.state.is_terminal:
            return await super().complete(task_id, token, result, now=now)
        done = evolve(
            task,
            state=TaskState.SUCCEEDED,
            lease=None,
            result=result,
            finished_at=at,
            updated_at=at,
        )
        self._tasks[task_id] = done
        return done


async def test_the_race_exposes_a_store_that_accepts_stale_tokens() -> None:
    history = await race_in_one_loop(StaleTokenStore(), tasks=200, workers=6, seconds=4)

    assert {"stale-token", "expired-token"} & {v.rule for v in check(history)}


# -- grants the store made that never reached a worker ----------------------------------


def _stored_grant(epoch: int, at: float, actor: str = "w") -> Event:
    return Event("stored-grant", "t1", actor, True, None, epoch, _at(at))


def _stored_expiry(epoch: int, at: float, actor: str = "w") -> Event:
    return Event("stored-expiry", "t1", actor, True, None, epoch, _at(at))


def test_a_grant_to_a_live_worker_that_expired_unstarted_is_reported_as_lost() -> None:
    history = History([_stored_grant(1, 0), _stored_expiry(1, 10)])
    assert [v.rule for v in check(history)] == ["lost-grant"]


def test_a_grant_whose_handler_started_or_that_was_used_is_not_lost() -> None:
    started = Event("start", "t1", "w", True, epoch=1)
    beat = Event("heartbeat", "t1", "w", True, "a", 1, _at(1), _at(11), "leased")
    for use in (started, beat):
        history = History([_stored_grant(1, 0), _stored_expiry(1, 10), use])
        assert "lost-grant" not in {v.rule for v in check(history)}


def test_a_grant_that_did_not_expire_is_not_lost() -> None:
    assert check(History([_stored_grant(1, 0)])) == []


def test_a_grant_lost_by_a_killed_worker_is_excused_and_only_that_workers() -> None:
    killed = Event("fault", "", "w", True, error="SIGKILL")
    mine = [_stored_grant(1, 0), _stored_expiry(1, 10)]
    assert check(History([*mine, killed])) == []
    other = Event("fault", "", "v", True, error="SIGKILL")
    assert [v.rule for v in check(History([*mine, other]))] == ["lost-grant"]


def test_one_failed_lease_call_excuses_the_grants_of_one_lease_statement_not_two() -> None:
    failed = Event("lease", "", "w", False, error="unanswered")
    one_statement = [
        _stored_grant(1, 0),
        _stored_expiry(1, 10),
        Event("stored-grant", "t2", "w", True, None, 1, _at(0)),
        Event("stored-expiry", "t2", "w", True, None, 1, _at(10)),
    ]
    assert check(History([*one_statement, failed])) == []
    another = [
        Event("stored-grant", "t3", "w", True, None, 1, _at(20)),
        Event("stored-expiry", "t3", "w", True, None, 1, _at(30)),
    ]
    rules = [v.rule for v in check(History([*one_statement, *another, failed]))]
    assert rules == ["lost-grant"] * 3


class LosingTransport:
    """A planted bug between the service and the worker: the first lease answer that
    grants anything loses its last grant on the way."""

    def __init__(self, inner: Transport) -> None:
        self._inner = inner
        self.lost: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def lease(self, request: LeaseRequest) -> list[LeaseInfo]:
        leases = await self._inner.lease(request)
        if leases and not self.lost:
            self.lost.append(str(leases[-1].task_id))
            return leases[:-1]
        return leases


@pytest.mark.parametrize("losing", [False, True], ids=["sound", "losing"])
async def test_the_checker_sees_a_grant_the_worker_never_received(
    tmp_path: Path, losing: bool
) -> None:
    notifier = InMemoryNotifier()
    store = InMemoryTaskStore(notifier=notifier)
    service = TaskService(store, notifier, RandomJitter(), LongPoll(1.0, 0.1))
    inner: Transport = InProcessTransport(service)
    losing_transport = LosingTransport(inner)
    log = EventLog(tmp_path / "events-w.jsonl")
    transport = RecordingTransport(losing_transport if losing else inner, "w", log)
    worker = Worker(
        transport,  # type: ignore[arg-type]
        queue="q",
        concurrency=4,
        lease_seconds=1.0,
        wait_seconds=0.2,
    )
    starts: list[Event] = []

    @worker.handler("job")
    async def job(ctx: TaskContext, payload: Any) -> None:
        starts.append(Event("start", str(ctx.task_id), "w", True, epoch=ctx.epoch))

    client = Client(inner)
    ids = [str((await client.enqueue("q", "job", {"n": n})).id) for n in range(4)]
    run = asyncio.create_task(worker.run(install_signal_handlers=False))
    try:
        async with asyncio.timeout(20):
            while True:
                states = [(await client.get(UUID(i))).state for i in ids]
                if set(states) == {"succeeded"}:
                    break
                await asyncio.sleep(0.05)
    finally:
        worker.stop()
        await run
        log.close()
    history = load_history([tmp_path / "events-w.jsonl"])
    for task_id in ids:
        for stored in stored_events(task_id, await client.history(UUID(task_id), limit=1000)):
            history.add(stored)
    for start in starts:
        history.add(start)
    violations = check(history)
    if losing:
        assert [(v.rule, v.task_id) for v in violations] == [
            ("lost-grant", losing_transport.lost[0])
        ]
    else:
        assert violations == []
