"""`LEASEQ_PLANNER_INTERVAL_SECONDS` reaches the maintenance: a store with the planner
statistics extra (PostgreSQL's) is asked that often, and never when it is 0."""

from __future__ import annotations

import asyncio

import pytest
from dependency_injector import providers

from leaseq.adapters.memory import InMemoryTaskStore
from leaseq.app.container import Container
from tests.contract.http_fixtures import running_app, settings_for


class PlanningStore(InMemoryTaskStore):
    """The real memory store, with the adapter extra the maintenance looks for."""

    def __init__(self) -> None:
        super().__init__()
        self.looks = 0

    async def refresh_planner_statistics(self) -> list[str]:
        self.looks += 1
        return []


@pytest.mark.parametrize(("interval", "expected"), [(0.05, True), (0.0, False)])
async def test_the_planner_interval_setting_paces_the_stores_extra(
    interval: float, expected: bool
) -> None:
    store = PlanningStore()
    container = Container()
    container.settings.override(
        providers.Object(settings_for("memory", None, planner_interval_seconds=interval))
    )
    container.memory_store.override(providers.Object(store))
    async with running_app(container):
        await asyncio.sleep(0.5)
    # every 50 ms for 0.5 s: about 10 looks (3 leaves room for a loaded machine); once at
    # the default 2 s, which is what a setting that never reached the maintenance gives
    assert (store.looks >= 3) is expected, store.looks
