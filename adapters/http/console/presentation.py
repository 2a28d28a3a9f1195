"""How the console words values: ages, times left, JSON, states, limits."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta

from leaseq.domain import JSON, QueueLimits, Task, TaskState

ACTIONS = {"requeue": "Requeue", "cancel": "Cancel"}


def age(delta: timedelta | None) -> str:
    """`1h 02m`, `3m 05s`, `4.2s`; an em dash for no value."""
    if delta is None:
        return "—"
    seconds = delta.total_seconds()
    if seconds < 0:
        return "expired"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    return f"{hours // 24}d {hours % 24}h"


def limits_text(limits: QueueLimits) -> str:
    """`5 at once · 2 per key · 10/s`; `none` for a queue without limits."""
    parts = []
    if limits.concurrency is not None:
        parts.append(f"{limits.concurrency} at once")
    if limits.concurrency_per_key is not None:
        parts.append(f"{limits.concurrency_per_key} per key")
    if limits.rate_per_second is not None:
        parts.append(f"{limits.rate_per_second:g}/s")
    return " · ".join(parts) or "none"


def per_key_text(per_key: Mapping[str, int] | None) -> str:
    """`customer-7: 2, customer-9: 1`: live leases per concurrency key, busiest first."""
    if not per_key:
        return ""
    ranked = sorted(per_key.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{key}: {count}" for key, count in ranked)


def pretty_json(value: JSON) -> str:
    """Indented JSON; the template escapes it, so `<script>` shows as text."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def when(value: datetime | None) -> str:
    return "—" if value is None else value.isoformat(sep=" ", timespec="seconds")


def error_line(error: str | None) -> str:
    """The line of an error that names it: a Python traceback's last line (the exception
    and its message), else the first line."""
    if not error:
        return ""
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
    if lines and lines[0].startswith("Traceback (most recent call last)"):
        return lines[-1]
    return lines[0] if lines else ""


def time_left(task: Task, now: datetime) -> timedelta | None:
    if task.state is not TaskState.LEASED or task.lease is None:
        return None
    return task.lease.expires_at - now


def actions_for(task: Task) -> list[str]:
    """What an operator may do to the task in its state (the store decides in the end)."""
    if task.state in (TaskState.PENDING, TaskState.LEASED):
        return ["cancel"]
    if task.state in (TaskState.DEAD, TaskState.CANCELLED):
        return ["requeue"]
    return []
