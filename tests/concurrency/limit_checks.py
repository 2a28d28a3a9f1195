"""The history checker's flow-control checks (ADR 0030): limits never exceeded at any
instant, grants within the rate, and no key starved by a busier one.

Caps are judged on the caller's monotonic clock with each lease's interval shrunk to
what is certain: live from the moment its grant was answered until the first call that
ended it was sent, or until `sent + lease_for` of its grant (its expiry came no earlier:
the store stamps a grant with a `now()` taken after the request was sent). Leases whose
certain intervals overlap were truly live at once, so more of them than a cap is a
violation, whatever the clocks did. The rate is judged on the store's own record of its
grants (every `leased` event of its history, store time).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from tests.concurrency.history import ENDS_LEASE, History

Violation = str


def certain_intervals(
    history: History, lease_for: timedelta, *, granted_before: float
) -> list[tuple[float, float, str]]:
    """(start, end, task id) of each grant answered before `granted_before`."""
    ends: dict[str, float] = {}
    for e in history.events:
        if e.op in ENDS_LEASE and e.token is not None:
            ends[e.token] = min(ends.get(e.token, e.sent), e.sent)
    spans = []
    for e in history.events:
        if e.op != "grant" or e.token is None or e.sent >= granted_before:
            continue
        end = min(ends.get(e.token, float("inf")), e.sent + lease_for.total_seconds())
        if end > e.answered:
            spans.append((e.answered, end, e.task_id))
    return spans


def most_at_once(spans: Sequence[tuple[float, float, str]]) -> int:
    """The most intervals live at one instant."""
    marks = sorted([(start, 1) for start, _, _ in spans] + [(end, -1) for _, end, _ in spans])
    live = peak = 0
    for _, step in marks:  # an end sorts before a start at the same instant
        live += step
        peak = max(peak, live)
    return peak


def check_limits(
    history: History,
    *,
    keys: Mapping[str, str | None],
    concurrency: int | None,
    per_key: int | None,
    lease_for: timedelta,
    granted_before: float = float("inf"),
) -> list[Violation]:
    """No instant with more than `concurrency` live leases, nor more than `per_key` live
    leases of one concurrency key (`keys`: task id to its key)."""
    spans = certain_intervals(history, lease_for, granted_before=granted_before)
    found = []
    if concurrency is not None and (peak := most_at_once(spans)) > concurrency:
        found.append(f"{peak} leases live at once, over the cap of {concurrency}")
    if per_key is not None:
        by_key: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
        for span in spans:
            key = keys.get(span[2])
            if key is not None:
                by_key[key].append(span)
        for key, mine in sorted(by_key.items()):
            if (peak := most_at_once(mine)) > per_key:
                found.append(f"key {key}: {peak} leases live at once, over {per_key}")
    return found


def check_rate(grants_at: Sequence[datetime], rate: float) -> list[Violation]:
    """Grants started over any 5 s window: at most rate x 5 x 1.1, plus one second's worth."""
    ordered = sorted(grants_at)
    bound = rate * 5 * 1.1 + max(1.0, rate)
    window = timedelta(seconds=5)
    found = []
    first = 0
    for last, at in enumerate(ordered):
        while ordered[first] <= at - window:
            first += 1
        if last - first + 1 > bound:
            found.append(f"{last - first + 1} grants in the 5 s before {at}, over {bound:g}")
            break
    return found


def check_fair_share(
    grant_keys: Sequence[str | None], ready_keys: set[str | None], *, slack: int
) -> list[Violation]:
    """Each key that had tasks ready from the start gets its first grant within one grant
    round (one grant per such key) plus `slack` (the grants in flight at once): a busy
    key cannot hold a quiet one back behind its own backlog."""
    bound = len(ready_keys) + slack
    first = {}
    for index, key in enumerate(grant_keys):
        first.setdefault(key, index)
    return [
        f"key {key}: first grant was grant #{first.get(key)}, later than #{bound}"
        for key in sorted(ready_keys, key=str)
        if first.get(key, len(grant_keys)) >= bound
    ]
