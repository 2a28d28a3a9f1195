"""An event history of store calls, and the checker of the single-owner guarantees.

Every time in the history is the store's own clock (PostgreSQL's `now()` or the memory
store's clock), read from what the store answered, so histories from several processes
merge without trusting their clocks:
- a grant happened at `expires_at - lease_for`;
- a heartbeat happened at `new expires_at - lease_for`;
- a result (complete, retry, fail, release) happened at the returned task's `updated_at`.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

from attrs import asdict, define, field, frozen

FENCED = ("heartbeat", "complete", "retry", "fail", "release")
TERMINAL_RESULTS = ("complete", "fail")


@frozen
class Event:
    """One call: who (`actor`) did `op` on `task_id` with `token`/`epoch`, and the answer."""

    op: str  # enqueue, grant, heartbeat, complete, retry, fail, release, cancel, final
    task_id: str
    actor: str
    accepted: bool
    token: str | None = None
    epoch: int | None = None
    at: datetime | None = None  # store time of the accepted call
    expires_at: datetime | None = None
    state: str | None = None  # the task's state after the call, when accepted
    error: str | None = None  # the refusal's code

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


@define
class _LeaseSpan:
    token: str
    epoch: int
    start: datetime
    granted_until: datetime
    end: datetime  # extended by accepted heartbeats, cut by the accepted result


def check(history: History) -> list[Violation]:
    """Every violation of the guarantees that the history shows (empty when it is clean)."""
    by_task: dict[str, list[Event]] = defaultdict(list)
    for event in history.events:
        by_task[event.task_id].append(event)
    violations: list[Violation] = []
    for task_id, events in by_task.items():
        violations += _check_task(task_id, events)
    return violations


def _check_task(task_id: str, events: list[Event]) -> list[Violation]:
    out: list[Violation] = []
    grants = sorted((e for e in events if e.op == "grant" and e.accepted), key=_epoch)
    spans = _spans(grants, events)
    epochs = [g.epoch for g in grants]
    if len(set(epochs)) != len(epochs):
        out.append(Violation("unique-epoch", task_id, f"epochs granted twice: {epochs}"))
    for earlier, later in itertools.pairwise(spans):
        if later.start < earlier.end:
            out.append(
                Violation(
                    "single-owner",
                    task_id,
                    f"epoch {later.epoch} granted at {later.start} while epoch "
                    f"{earlier.epoch} was live until {earlier.end}",
                )
            )
    out += _check_fenced_calls(task_id, events, spans)
    out += _check_results(task_id, events, grants)
    return out


def _spans(grants: list[Event], events: list[Event]) -> list[_LeaseSpan]:
    spans = []
    for grant in grants:
        assert grant.at is not None and grant.expires_at is not None and grant.token
        span = _LeaseSpan(grant.token, _epoch(grant), grant.at, grant.expires_at, grant.expires_at)
        mine = sorted(
            (e for e in events if e.accepted and e.op in FENCED and e.token == grant.token),
            key=lambda e: e.at or grant.at,
        )
        for event in mine:
            if event.op == "heartbeat" and event.expires_at is not None:
                span.end = max(span.end, event.expires_at)
            elif event.at is not None:
                span.end = min(span.end, event.at)
                break
        cancelled = [e.at for e in events if e.op == "cancel" and e.accepted and e.at]
        later_cancels = [at for at in cancelled if at >= span.start]
        if later_cancels:
            span.end = min(span.end, min(later_cancels))
        spans.append(span)
    return spans


def _check_fenced_calls(
    task_id: str, events: list[Event], spans: list[_LeaseSpan]
) -> list[Violation]:
    out = []
    by_token = {s.token: s for s in spans}
    for event in events:
        if event.op not in FENCED or not event.accepted:
            continue
        span = by_token.get(event.token or "")
        if span is None:
            out.append(
                Violation("stale-token", task_id, f"{event.op} accepted with a token never granted")
            )
            continue
        newer = [s for s in spans if s.epoch > span.epoch and event.at and s.start <= event.at]
        if newer:
            out.append(
                Violation(
                    "stale-token",
                    task_id,
                    f"{event.op} by epoch {span.epoch} accepted at {event.at} after epoch "
                    f"{newer[0].epoch} was granted at {newer[0].start}",
                )
            )
        lease_for_end = _live_until(span, events, event)
        if event.at is not None and event.at >= lease_for_end:
            out.append(
                Violation(
                    "expired-token",
                    task_id,
                    f"{event.op} by epoch {span.epoch} accepted at {event.at}, "
                    f"after its lease expired at {lease_for_end}",
                )
            )
    return out


def _live_until(span: _LeaseSpan, events: list[Event], call: Event) -> datetime:
    """When the lease of `span` would have expired, counting heartbeats before `call`."""
    extensions = [
        e.expires_at
        for e in events
        if e.op == "heartbeat"
        and e.accepted
        and e.token == span.token
        and e.at is not None
        and call.at is not None
        and e.at < call.at
        and e.expires_at is not None
    ]
    return max([span.granted_until, *extensions])


def _check_results(task_id: str, events: list[Event], grants: list[Event]) -> list[Violation]:
    out = []
    terminal = [e for e in events if e.accepted and e.op in TERMINAL_RESULTS]
    dead_by_retry = [e for e in events if e.accepted and e.op == "retry" and e.state == "dead"]
    results = terminal + dead_by_retry
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
            (_epoch(g) for g in grants if g.at and result.at and g.at <= result.at), default=None
        )
        if newest is not None and result.epoch != newest:
            out.append(
                Violation(
                    "newest-lease",
                    task_id,
                    f"result from epoch {result.epoch}, but epoch {newest} was the newest",
                )
            )
    finals = [e for e in events if e.op == "final"]
    enqueued = any(e.op == "enqueue" and e.accepted for e in events)
    if enqueued and not finals:
        out.append(Violation("nothing-lost", task_id, "no final state was read"))
    for final in finals:
        if final.state not in ("succeeded", "dead", "cancelled"):
            out.append(Violation("nothing-lost", task_id, f"ended in state {final.state}"))
    return out


def _epoch(event: Event) -> int:
    return event.epoch if event.epoch is not None else -1


def lease_window(expires_at: datetime, lease_for: timedelta) -> datetime:
    """The store instant at which a lease (or heartbeat) ending at `expires_at` was granted."""
    return expires_at - lease_for
