"""An event history of store calls, and the checker of the single-owner guarantees.

Two clocks, each used where it is exact:
- the store's clock (PostgreSQL's `now()`, or the memory store's clock), read from what the
  store answered, decides everything about expiry: a grant happened at
  `expires_at - lease_for`, a heartbeat at `new expires_at - lease_for`, a result at the
  returned task's `updated_at`; a lease is live while the store's clock is before its
  (heartbeat-extended) `expires_at`;
- the caller's `time.monotonic()` (CLOCK_MONOTONIC, one clock for every process of the
  machine) orders calls against each other: `sent` before the request, `answered` after.
  PostgreSQL's `now()` is the start of the statement's transaction, so a claim that waited
  for a row lock can carry an earlier `now()` than the result it waited for; the store's
  clock cannot order two calls, the caller's clock can.

A worker only writes down the grants it received. What the store granted is read from the
store's own history (`stored-grant`, `stored-expiry` events, added by the judge), so a
grant lost between the store and the worker is seen too: `lost-grant`.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

from attrs import asdict, define, field, frozen

FENCED = ("heartbeat", "complete", "retry", "fail", "release")
ENDS_LEASE = ("complete", "retry", "fail", "release")


@frozen
class Event:
    """One call: who (`actor`) did `op` on `task_id` with `token`/`epoch`, and the answer."""

    # enqueue, grant, heartbeat, complete, retry, fail, release, cancel, final; a worker's
    # failed `lease` call; the store's records `stored-grant`, `stored-expiry`; a handler's
    # `start`; a `fault` done to an actor (killed, paused) by the test
    op: str
    task_id: str
    actor: str
    accepted: bool
    token: str | None = None
    epoch: int | None = None
    at: datetime | None = None  # store time of the accepted call
    expires_at: datetime | None = None
    state: str | None = None  # the task's state after the call, when accepted
    error: str | None = None  # the refusal's code
    sent: float = 0.0  # caller's monotonic clock before the call
    answered: float = 0.0  # … and after the answer

    def to_json(self) -> str:
        data = asdict(self)
        for key in ("at", "expires_at"):
            if data[key] is not None:
                data[key] = data[key].isoformat()
        return json.dumps(data)

    @classmethod
    def from_json(cls, line: str) -> Event:
        data = json.loads(line)
        for key in ("at", "expires_at"):
            if data[key] is not None:
                data[key] = datetime.fromisoformat(data[key])
        return cls(**data)


@define
class History:
    events: list[Event] = field(factory=list)

    def add(self, event: Event) -> None:
        self.events.append(event)

    def dump(self, path: Path) -> None:
        path.write_text("".join(e.to_json() + "\n" for e in self.events))

    @classmethod
    def load(cls, paths: Iterable[Path]) -> History:
        events = [Event.from_json(line) for p in paths for line in p.read_text().splitlines()]
        return cls(events)


@frozen
class Violation:
    rule: str
    task_id: str
    detail: str


@frozen
class _Lease:
    grant: Event
    heartbeats: tuple[Event, ...]
    ended_by: Event | None  # the accepted result or cancel that ended it, if any

    @property
    def epoch(self) -> int:
        return self.grant.epoch if self.grant.epoch is not None else -1

    def live_until(self, before: float = float("inf")) -> datetime:
        """Store-clock expiry, extended by the heartbeats answered before `before`."""
        assert self.grant.expires_at is not None
        extended = [h.expires_at for h in self.heartbeats if h.sent < before and h.expires_at]
        return max([self.grant.expires_at, *extended])


def check(history: History) -> list[Violation]:
    """Every violation of the guarantees that the history shows (empty when it is clean)."""
    by_task: dict[str, list[Event]] = defaultdict(list)
    for event in history.events:
        by_task[event.task_id].append(event)
    violations: list[Violation] = []
    for task_id, events in sorted(by_task.items()):
        if task_id:  # (a lease call or a fault names no task)
            violations += _check_task(task_id, events)
    return violations + _lost_grants(history.events)


def _check_task(task_id: str, events: list[Event]) -> list[Violation]:
    leases = _leases(events)
    epochs = [lease.epoch for lease in leases]
    out = []
    if len(set(epochs)) != len(epochs):
        out.append(Violation("unique-epoch", task_id, f"epochs granted twice: {epochs}"))
    out += _single_owner(task_id, leases)
    out += _fenced_calls(task_id, events, leases)
    out += _results(task_id, events, leases)
    return out


def _leases(events: list[Event]) -> list[_Lease]:
    grants = sorted((e for e in events if e.op == "grant" and e.accepted), key=_epoch)
    cancels = [e for e in events if e.op == "cancel" and e.accepted]
    leases = []
    for grant in grants:
        mine = [e for e in events if e.accepted and e.op in FENCED and e.token == grant.token]
        ends = sorted((e for e in mine if e.op in ENDS_LEASE), key=lambda e: e.sent)
        later_cancels = sorted((c for c in cancels if c.sent >= grant.sent), key=lambda c: c.sent)
        ended_by = (ends or later_cancels or [None])[0]
        heartbeats = tuple(e for e in mine if e.op == "heartbeat")
        leases.append(_Lease(grant, heartbeats, ended_by))
    return leases


def _single_owner(task_id: str, leases: list[_Lease]) -> list[Violation]:
    """Each grant came after the previous lease ended: by its result or cancel (caller's
    clock: the grant was not answered before that call was sent), or by expiry (store's
    clock: granted at or after the expiry)."""
    out = []
    for earlier, later in itertools.pairwise(leases):
        granted = later.grant
        assert granted.at is not None
        if earlier.ended_by is not None and earlier.ended_by.sent < granted.answered:
            continue  # ended by a result or a cancel sent before the new grant came back
        expiry = earlier.live_until(before=granted.answered)
        if granted.at < expiry:
            out.append(
                Violation(
                    "single-owner",
                    task_id,
                    f"epoch {later.epoch} granted at {granted.at} while epoch "
                    f"{earlier.epoch} was live until {expiry}",
                )
            )
    return out


def _fenced_calls(task_id: str, events: list[Event], leases: list[_Lease]) -> list[Violation]:
    """An accepted call's token was the newest lease's, and that lease was live."""
    out = []
    by_token = {lease.grant.token: lease for lease in leases}
    for call in (e for e in events if e.op in FENCED and e.accepted):
        lease = by_token.get(call.token or "")
        if lease is None:
            out.append(Violation("stale-token", task_id, f"{call.op} with a token never granted"))
            continue
        newer = [x for x in leases if x.epoch > lease.epoch and x.grant.answered < call.sent]
        if newer:
            out.append(
                Violation(
                    "stale-token",
                    task_id,
                    f"{call.op} by epoch {lease.epoch} accepted after epoch "
                    f"{newer[0].epoch} had been granted",
                )
            )
        live_until = lease.live_until(before=call.sent)
        if call.at is not None and call.at >= live_until:
            out.append(
                Violation(
                    "expired-token",
                    task_id,
                    f"{call.op} by epoch {lease.epoch} accepted at {call.at}, "
                    f"after its lease expired at {live_until}",
                )
            )
    return out


def _results(task_id: str, events: list[Event], leases: list[_Lease]) -> list[Violation]:
    out = []
    results = [
        e
        for e in events
        if e.accepted and (e.op in ("complete", "fail") or (e.op == "retry" and e.state == "dead"))
    ]
    if len(results) > 1:
        out.append(
            Violation(
                "one-result",
                task_id,
                f"{len(results)} accepted terminal results: {[(e.op, e.epoch) for e in results]}",
            )
        )
    for result in results:
        newest = max(
            (x.epoch for x in leases if x.grant.answered < result.sent), default=result.epoch
        )
        if result.epoch != newest:
            out.append(
                Violation(
                    "newest-lease",
                    task_id,
                    f"result from epoch {result.epoch}, but epoch {newest} was the newest",
                )
            )
    finals = [e for e in events if e.op == "final"]
    if any(e.op == "enqueue" and e.accepted for e in events) and not finals:
        out.append(Violation("nothing-lost", task_id, "no final state was read"))
    for final in finals:
        if final.state not in ("succeeded", "dead", "cancelled"):
            out.append(Violation("nothing-lost", task_id, f"ended in state {final.state}"))
    return out


def _lost_grants(events: list[Event]) -> list[Violation]:
    """A lease the store granted (its history) that expired unused, no handler start and no
    accepted heartbeat, result or release of its epoch, while its worker lived: the grant
    was lost between the store and the worker. Excused where the worker was killed or
    paused (a `fault`), or saw its lease call fail (no answer, a 5xx): one failed call
    excuses one lease statement's grants, which share the statement's instant."""
    faulted = {e.actor for e in events if e.op == "fault"}
    failed_calls = Counter(e.actor for e in events if e.op == "lease" and not e.accepted)
    used = {
        (e.task_id, e.epoch) for e in events if e.accepted and (e.op in FENCED or e.op == "start")
    }
    expired = {(e.task_id, e.epoch) for e in events if e.op == "stored-expiry"}
    statements: dict[str, dict[datetime | None, list[Event]]] = defaultdict(dict)
    for grant in events:
        key = (grant.task_id, grant.epoch)
        unused = grant.op == "stored-grant" and key in expired and key not in used
        if unused and grant.actor not in faulted:
            statements[grant.actor].setdefault(grant.at, []).append(grant)
    out = []
    for actor, lost in sorted(statements.items()):
        if len(lost) <= failed_calls[actor]:
            continue
        for grant in (g for grants in lost.values() for g in grants):
            out.append(
                Violation(
                    "lost-grant",
                    grant.task_id,
                    f"epoch {grant.epoch} granted to live worker {actor} at {grant.at} "
                    f"expired unstarted ({len(lost)} lost lease statements, "
                    f"{failed_calls[actor]} failed lease calls)",
                )
            )
    return out


def _epoch(event: Event) -> int:
    return event.epoch if event.epoch is not None else -1


def lease_window(expires_at: datetime, lease_for: timedelta) -> datetime:
    """The store instant at which a lease (or heartbeat) ending at `expires_at` was granted."""
    return expires_at - lease_for
