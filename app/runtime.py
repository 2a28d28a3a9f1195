"""What a running service holds: the opened store, the notifier, the use cases, maintenance.

The HTTP app starts it in its lifespan and stops it on shutdown; the composition root
decides which adapters go in.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from leaseq.app.maintenance import Maintenance, MaintenancePlan
from leaseq.app.queue_control import QueueAdmin
from leaseq.app.schedules import ScheduleService
from leaseq.app.services import LongPoll, TaskService
from leaseq.ports import (
    CronCalendar,
    JitterSource,
    Notifier,
    ServiceStore,
    TaskEvents,
    TaskStore,
)

log = logging.getLogger(__name__)

StoreOpener = Callable[[], Awaitable[ServiceStore]]
ReadinessCheck = Callable[[TaskStore], Awaitable[None]]


async def store_answers(store: TaskStore) -> None:
    """The default readiness check: the store answers a cheap query."""
    await store.stats("leaseq-readiness-probe")


class Runtime:
    def __init__(
        self,
        *,
        open_store: StoreOpener,
        notifier: Notifier,
        jitter: JitterSource,
        long_poll: LongPoll,
        maintenance: MaintenancePlan | None,
        readiness: ReadinessCheck = store_answers,
        events: TaskEvents | None = None,
        calendar: CronCalendar | None = None,
        whole_reports: bool = False,
    ) -> None:
        self._events = events
        self._whole_reports = whole_reports
        self._calendar = calendar
        self._open_store = open_store
        self._notifier = notifier
        self._jitter = jitter
        self._long_poll = long_poll
        self._plan = maintenance
        self._readiness = readiness
        self._store: ServiceStore | None = None
        self._service: TaskService | None = None
        self._maintenance: Maintenance | None = None
        self._queues: QueueAdmin | None = None
        self._schedules: ScheduleService | None = None

    @property
    def service(self) -> TaskService:
        if self._service is None:
            raise RuntimeError("the runtime is not started")
        return self._service

    @property
    def queues(self) -> QueueAdmin:
        if self._queues is None:
            raise RuntimeError("the runtime is not started")
        return self._queues

    @property
    def schedules(self) -> ScheduleService:
        if self._schedules is None:
            raise RuntimeError("the runtime is not started, or has no cron calendar")
        return self._schedules

    async def start(self) -> TaskService:
        if self._service is not None:
            return self._service
        store = await self._open_store()
        await self._notifier.start()
        self._store = store
        self._service = TaskService(
            store,
            self._notifier,
            self._jitter,
            self._long_poll,
            events=self._events,
            whole_reports=self._whole_reports,
        )
        self._queues = QueueAdmin(store)
        if self._calendar is not None:
            self._schedules = ScheduleService(store, self._calendar, self._events)
        if self._plan is not None:
            self._maintenance = Maintenance(store, self._plan, self._events, self._schedules)
            self._maintenance.start()
        return self._service

    async def ready(self) -> None:
        """Raises StoreUnavailable or SchemaOutOfDate when the service cannot serve."""
        await self._readiness(self._require_store())

    async def stop(self) -> None:
        if self._maintenance is not None:
            await self._maintenance.stop()
            self._maintenance = None
        if self._service is not None:
            await self._service.close()
            self._service = None
        self._queues = self._schedules = None
        await self._notifier.close()
        if self._store is not None:
            await self._store.close()
            self._store = None

    def _require_store(self) -> TaskStore:
        if self._store is None:
            raise RuntimeError("the runtime is not started")
        return self._store
