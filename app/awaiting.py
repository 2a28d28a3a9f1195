"""Awaiting a task's final state: one shared event per awaited task, set by the notifier
when the store announces the task final (ADR 0028). No waiter polls the store."""

from __future__ import annotations

import asyncio
from uuid import UUID

from leaseq.domain import Task
from leaseq.ports import Notifier, TaskStore, TaskWatch


async def await_final(
    store: TaskStore, notifier: Notifier, task_id: UUID, wait_seconds: float
) -> Task:
    """The task as soon as it is final (succeeded, dead, cancelled), else as it stands
    after `wait_seconds`. Reads the store once per announcement (and once at the end).
    Raises TaskNotFound."""
    if wait_seconds <= 0:
        return await store.get(task_id)
    # a store that must be told whom to announce is told (PostgreSQL); others announce all
    watch = store.watch if isinstance(store, TaskWatch) else store.get
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        event = notifier.final_event(task_id)  # before the read: no announcement is lost
        task = await watch(task_id)
        remaining = deadline - loop.time()
        if task.state.is_terminal or remaining <= 0:
            return task
        try:
            async with asyncio.timeout(remaining):
                await event.wait()
        except TimeoutError:
            return await store.get(task_id)
