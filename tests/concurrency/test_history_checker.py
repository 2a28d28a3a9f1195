"""The checker catches planted violations: a store that accepts stale tokens is exposed."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from attrs import evolve

from leaseq.adapters.memory import InMemoryTaskStore
from leaseq.domain import JSON, Task, TaskState
from tests.concurrency.actors import race_in_one_loop
from tests.concurrency.history import Event, History, check

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
