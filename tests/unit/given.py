"""Domain tasks in a chosen state, reached through the transitions themselves."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from leaseq.domain import Task
from leaseq.domain import transitions as tr
from tests.support import T0, spec

TASK_ID = UUID("01900000-0000-7000-8000-000000000001")
LEASE_FOR = timedelta(seconds=30)
TOKEN = "token-current"


def pending(**fields: Any) -> Task:
    return tr.new_task(spec(**fields), task_id=TASK_ID, now=T0)


def leased(
    task: Task | None = None, *, token: str = TOKEN, now: datetime = T0, **fields: Any
) -> Task:
    task = task if task is not None else pending(**fields)
    return tr.grant(task, now=now, owner="worker-1", token=token, lease_for=LEASE_FOR)


EXPIRY = T0 + LEASE_FOR


def succeeded() -> Task:
    return tr.complete(leased(), token=TOKEN, now=T0, result={"ok": True})


def dead() -> Task:
    return tr.fail(leased(), token=TOKEN, now=T0, error="boom")


def cancelled() -> Task:
    return tr.cancel(leased(), now=T0)


TERMINAL = {"succeeded": succeeded, "dead": dead, "cancelled": cancelled}
