"""Background maintenance: the lease-expiry sweep, the pruning of finished tasks, the
periodic reading of queue statistics for the metrics gauges, the firing of schedules, and
the store's own upkeep where it has some (PostgreSQL's planner statistics, ADR 0034).

Each loop runs one bounded iteration per interval; an exception is logged and the loop
carries on, so a database hiccup never stops maintenance for good. Safe in every replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from attrs import frozen

from leaseq.app.observers import NoTaskEvents
from leaseq.app.schedules import ScheduleService
from leaseq.ports import TaskEvents, TaskStore

log = logging.getLogger(__name__)


@frozen
class MaintenancePlan:
    expiry_interval: float = 1.0
    expiry_batch: int = 500
    prune_interval: float = 60.0
    prune_batch: int = 1000
    retention: timedelta = timedelta(days=7)
    stats_interval: float = 5.0  # gauges read store.stats() this often, never per scrape
    schedule_interval: float = 1.0  # due schedules are fired this often (ADR 0029)
    schedule_batch: int = 100
    planner_interval: float = 2.0  # the store's planner statistics looked at (0: never)


async def sweep_expired(
    store: TaskStore, plan: MaintenancePlan, events: TaskEvents | None = None
) -> int:
    """One expiry pass: expired leases go back to pending (or dead when out of attempts)."""
    moved = await store.expire_due(limit=plan.expiry_batch)
    if moved and events is not None:
        events.swept(moved)
    return moved


async def refresh_stats(store: TaskStore, events: TaskEvents) -> int:
    """Read every queue's counts once and hand them to the observers (the gauges)."""
    events.queue_stats(await store.stats())
    return 0


async def refresh_planner_statistics(refresh: Callable[[], Awaitable[list[str]]]) -> int:
    """One look at the store's planner statistics (an adapter extra: PostgreSQL's)."""
    analyzed = await refresh()
    if analyzed:
        log.info("planner statistics: analyzed %s, which outgrew them", ", ".join(analyzed))
    return 0


async def prune_finished(store: TaskStore, plan: MaintenancePlan) -> int:
    """One prune pass: delete tasks that finished longer ago than the retention, by the
    store's clock (ADR 0003)."""
    return await store.prune(retention=plan.retention, limit=plan.prune_batch)


class Maintenance:
    """Runs the loops between `start()` and `stop()` (the app's lifespan)."""

    def __init__(
        self,
        store: TaskStore,
        plan: MaintenancePlan,
        events: TaskEvents | None = None,
        schedules: ScheduleService | None = None,
    ) -> None:
        self._events: TaskEvents = events or NoTaskEvents()
        self._schedules = schedules
        self._store = store
        self._plan = plan
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        plan = self._plan
        self._tasks = [
            asyncio.create_task(
                _every(
                    plan.expiry_interval,
                    "expiry sweep",
                    lambda: sweep_expired(self._store, plan, self._events),
                ),
                name="leaseq-expiry-sweep",
            ),
            asyncio.create_task(
                _every(
                    plan.prune_interval,
                    "prune",
                    lambda: prune_finished(self._store, plan),
                ),
                name="leaseq-prune",
            ),
            asyncio.create_task(
                _every(
                    plan.stats_interval,
                    "stats refresh",
                    lambda: refresh_stats(self._store, self._events),
                ),
                name="leaseq-stats-refresh",
            ),
        ]
        # An adapter extra, like the pool status: only a store that plans from statistics.
        refresh = getattr(self._store, "refresh_planner_statistics", None)
        if refresh is not None and plan.planner_interval > 0:
            self._tasks.append(
                asyncio.create_task(
                    _every(
                        plan.planner_interval,
                        "planner statistics",
                        lambda: refresh_planner_statistics(refresh),
                    ),
                    name="leaseq-planner-statistics",
                )
            )
        schedules = self._schedules
        if schedules is not None:
            self._tasks.append(
                asyncio.create_task(
                    _every(
                        plan.schedule_interval,
                        "schedule firing",
                        lambda: schedules.fire_due(limit=plan.schedule_batch),
                    ),
                    name="leaseq-schedules",
                )
            )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []


async def _every(interval: float, name: str, step: Callable[[], Awaitable[int]]) -> None:
    while True:
        try:
            moved = await step()
            if moved:
                log.info("%s: %d tasks", name, moved)
        except Exception:
            log.exception("%s failed; trying again in %.1f s", name, interval)
        await asyncio.sleep(interval)
