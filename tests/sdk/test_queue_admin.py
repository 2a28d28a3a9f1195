"""The client's operator calls on queues (show, pause, resume, limits) and schedules (set, read,
list, delete), through every transport: the same answers and the same typed errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from leaseq.adapters.cron import CronsimCalendar
from leaseq.adapters.memory import InMemoryTaskStore
from leaseq.app.queue_control import QueueAdmin
from leaseq.app.schedules import ScheduleService
from leaseq.app.services import TaskService
from leaseq.sdk import (
    Client,
    FeatureUnavailable,
    FlowLimits,
    RetrySettings,
    ScheduleNotFound,
    ValidationFailed,
)
from leaseq.sdk.transport.inprocess import InProcessTransport
from leaseq.sdk.types import LeaseRequest, TaskRequest
from tests.sdk.conftest import TRANSPORTS
from tests.sdk.servers import serve_http


@pytest.fixture(params=TRANSPORTS)
async def admin(
    request: pytest.FixtureRequest, service: TaskService, store: InMemoryTaskStore
) -> AsyncIterator[Client]:
    if request.param == "inprocess":
        transport = InProcessTransport(
            service,
            queues=QueueAdmin(store),
            schedules=ScheduleService(store, CronsimCalendar()),
        )
        async with Client(transport) as client:
            yield client
        return
    async with serve_http(store) as url, Client(url) as client:
        yield client


def _lease(queue: str) -> LeaseRequest:
    return LeaseRequest(queue=queue, worker_id="w", max_tasks=5, wait_seconds=0)


async def test_a_paused_queue_grants_nothing_until_resumed(admin: Client) -> None:
    await admin.enqueue("emails", "send", {})
    paused = await admin.pause("emails")
    assert (paused.queue, paused.paused, paused.ready) == ("emails", True, 1)
    assert paused.paused_at is not None
    assert await admin.transport.lease(_lease("emails")) == []
    assert (await admin.queue("emails")).paused
    resumed = await admin.resume("emails")
    assert (resumed.paused, resumed.paused_at) == (False, None)
    assert len(await admin.transport.lease(_lease("emails"))) == 1


async def test_pausing_twice_is_one_pause_and_a_queue_never_used_is_zeros(admin: Client) -> None:
    first = await admin.pause("quiet")
    second = await admin.pause("quiet")
    assert second.paused and second.paused_at == first.paused_at
    fresh = await admin.queue("fresh")
    assert (fresh.paused, fresh.ready, sum(fresh.counts.values())) == (False, 0, 0)


async def test_a_schedule_is_set_read_listed_replaced_and_deleted(admin: Client) -> None:
    made = await admin.set_schedule(
        "nightly", "0 3 * * *", "reports", "build", {"kind": "daily"},
        timezone="Europe/Berlin", priority=2, labels={"team": "ops"},
        retry=RetrySettings(base_seconds=5.0),
    )  # fmt: skip
    assert (made.name, made.cron, made.timezone, made.revision) == (
        "nightly", "0 3 * * *", "Europe/Berlin", 1,
    )  # fmt: skip
    assert (made.task.queue, made.task.type, made.task.payload) == (
        "reports", "build", {"kind": "daily"},
    )  # fmt: skip
    assert (made.task.priority, made.task.labels) == (2, {"team": "ops"})
    assert made.task.retry == RetrySettings(base_seconds=5.0)
    assert made.next_fire_at.astimezone().hour is not None and made.last_fire_at is None
    assert await admin.schedule("nightly") == made
    replaced = await admin.set_schedule("nightly", "0 4 * * *", "reports", "build")
    assert replaced.revision == 2 and replaced.next_fire_at != made.next_fire_at
    assert [s.name for s in await admin.schedules()] == ["nightly"]
    gone = await admin.delete_schedule("nightly")
    assert gone.cron == "0 4 * * *"
    assert await admin.schedules() == []
    with pytest.raises(ScheduleNotFound):
        await admin.schedule("nightly")
    with pytest.raises(ScheduleNotFound):
        await admin.delete_schedule("nightly")


@pytest.mark.parametrize(
    ("cron", "timezone", "field"),
    [("* * *", "UTC", "cron"), ("* * * * *", "Mars/Olympus", "timezone")],
)
async def test_a_bad_rule_or_time_zone_is_refused_by_name(
    admin: Client, cron: str, timezone: str, field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await admin.set_schedule("s", cron, "q", "t", timezone=timezone)
    assert [e["field"] for e in refused.value.extensions["errors"]] == [field]
    assert await admin.schedules() == []


async def test_a_template_with_its_own_run_time_is_refused(admin: Client) -> None:
    template = TaskRequest(queue="q", type="t", delay_seconds=5.0)
    with pytest.raises(ValidationFailed) as refused:
        await admin.transport.put_schedule("s", "* * * * *", "UTC", template)
    [error] = refused.value.extensions["errors"]
    assert "delay_seconds" in error["field"]
    assert await admin.schedules() == []


async def test_an_in_process_transport_without_administration_says_what_to_pass(
    service: TaskService,
) -> None:
    async with Client(InProcessTransport(service)) as client:
        with pytest.raises(FeatureUnavailable, match="queues=QueueAdmin"):
            await client.pause("emails")
        with pytest.raises(FeatureUnavailable, match="schedules="):
            await client.schedules()


async def test_limits_are_set_shown_and_enforced_with_live_counts_per_key(admin: Client) -> None:
    for key in ("a", "a", "b"):
        await admin.enqueue("emails", "send", {}, concurrency_key=key)
    state = await admin.set_limits("emails", concurrency=5, concurrency_per_key=1)
    assert state.limits == FlowLimits(5, 1, None)
    granted = await admin.transport.lease(_lease("emails"))
    assert len(granted) == 2
    shown = await admin.queue("emails")
    assert (shown.live_leases, shown.live_per_key) == (2, {"a": 1, "b": 1})
    assert (await admin.get(granted[0].task_id)).concurrency_key in {"a", "b"}
    lifted = await admin.set_limits("emails")
    assert lifted.limits == FlowLimits()
    assert len(await admin.transport.lease(_lease("emails"))) == 1


async def test_bad_limits_are_refused_by_name(admin: Client) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await admin.set_limits("emails", rate_per_second=0)
    assert [e["field"] for e in refused.value.extensions["errors"]] == ["rate_per_second"]
    assert (await admin.queue("emails")).limits == FlowLimits()


async def test_a_schedule_template_keeps_its_concurrency_key(admin: Client) -> None:
    made = await admin.set_schedule("s", "* * * * *", "q", "t", concurrency_key="tenant-9")
    assert made.task.concurrency_key == "tenant-9"
    assert (await admin.schedule("s")).task.concurrency_key == "tenant-9"


async def test_an_in_process_transport_without_administration_cannot_set_limits(
    service: TaskService,
) -> None:
    async with Client(InProcessTransport(service)) as client:
        with pytest.raises(FeatureUnavailable, match="queues=QueueAdmin"):
            await client.set_limits("emails", concurrency=1)
