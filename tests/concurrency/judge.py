"""Judging a fault run from its data: the database's final states and results, the
handlers' effects files, and the workers' event history."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any
from uuid import UUID

from attrs import frozen

from leaseq.domain.transitions import EXPIRED_ERROR
from leaseq.sdk import Client
from leaseq.sdk.types import TaskEventInfo, TaskRequest
from tests.concurrency.history import Event, History, check
from tests.concurrency.recording import load_history
from tests.concurrency.sdk_workers import read_effects


async def enqueue_jobs(
    url: str | tuple[str, ...], queue: str, n: int, *, prefix: str = "job"
) -> list[str]:
    """Enqueue in batches with idempotency keys, so a batch retried across a fault is
    deduplicated, never doubled."""
    ids: list[str] = []
    async with Client(url) as client:
        for start in range(0, n, 50):
            requests = [
                TaskRequest(queue, "job", {"i": i}, idempotency_key=f"{prefix}-{i}")
                for i in range(start, min(n, start + 50))
            ]
            ids += [str(r.id) for r in await client.enqueue_many(requests)]
    return ids


@frozen
class Verdict:
    states: Counter[str]
    executions: int  # handler starts, all workers
    redelivered: int  # tasks whose handler started more than once
    refusals: Counter[str]  # refused calls by code
    violations: list[str]

    def summary(self) -> str:
        return (
            f"states={dict(self.states)} executions={self.executions} "
            f"redelivered={self.redelivered} refusals={dict(self.refusals)}"
        )


async def judge(url: str | tuple[str, ...], task_ids: list[str], out_dir: Path) -> Verdict:
    """Every task succeeded once, with the result of a finished handler run by the newest
    lease; and the history of every worker passes the checker."""
    effects, history = _read_run(out_dir)
    done = {(e["task"], e["epoch"], e["worker"]) for e in effects if e["phase"] == "done"}
    starts = Counter(e["task"] for e in effects if e["phase"] == "start")
    violations: list[str] = []
    states: Counter[str] = Counter()
    async with Client(url) as client:
        for task_id in task_ids:
            task = await client.get(UUID(task_id))
            states[task.state] += 1
            history.add(Event("enqueue", task_id, "producer", True))
            history.add(Event("final", task_id, "checker", True, state=task.state))
            for stored in stored_events(task_id, await client.history(UUID(task_id), limit=1000)):
                history.add(stored)
            if task.state != "succeeded":
                violations.append(f"{task_id}: ended {task.state} ({task.last_error})")
                continue
            result = task.result if isinstance(task.result, dict) else {}
            if result.get("epoch") != task.epoch:
                violations.append(f"{task_id}: result {result} is not the newest lease's")
            if (task_id, result.get("epoch"), result.get("worker")) not in done:
                violations.append(f"{task_id}: result {result} from no finished handler run")
    violations += [f"{v.rule} {v.task_id}: {v.detail}" for v in check(_known(history))]
    refusals = Counter(e.error or "" for e in history.events if not e.accepted)
    return Verdict(
        states,
        sum(starts.values()),
        sum(1 for n in starts.values() if n > 1),
        refusals,
        violations,
    )


def stored_events(task_id: str, infos: list[TaskEventInfo]) -> list[Event]:
    """The store's own record of a task's leases: every grant it made (whether or not the
    worker received it) and every lease that ended by expiry."""
    events = []
    for info in infos:
        if info.transition == "leased":
            events.append(
                Event("stored-grant", task_id, info.worker or "", True, None, info.epoch, info.at)
            )
        expired = info.transition == "expired" or (
            info.transition == "dead_lettered" and (info.error or "").startswith(EXPIRED_ERROR)
        )
        if expired:
            events.append(
                Event("stored-expiry", task_id, info.worker or "", True, None, info.epoch, info.at)
            )
    return events


def _read_run(out_dir: Path) -> tuple[list[dict[str, Any]], History]:
    effects = read_effects(sorted(out_dir.glob("effects-*.jsonl")))
    history = load_history(sorted(out_dir.glob("events-*.jsonl")))
    for e in effects:
        if e["phase"] == "start":
            history.add(Event("start", e["task"], e["worker"], True, epoch=e["epoch"]))
    return effects, history


def _known(history: History) -> History:
    """Drop results that got no answer: the checker cannot tell whether they were applied.
    (Failed lease calls stay: they excuse grants the store made and never delivered.)"""
    return History([e for e in history.events if e.error != "unanswered" or e.op == "lease"])
