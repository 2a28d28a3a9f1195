"""The worker's behaviour, through every transport."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from leaseq.adapters.memory import InMemoryTaskStore
from leaseq.ports import LeaseRequest as StoreLeaseRequest
from leaseq.sdk import Client, Fatal, Retry, RetrySettings, TaskContext, TaskRequest, Worker
from leaseq.sdk.errors import ServiceUnavailable

FAST_RETRY = RetrySettings(base_seconds=0.0, factor=1.0, max_seconds=0.0, jitter=0.0)


def make_worker(client: Client, **options: Any) -> Worker:
    settings: dict[str, Any] = {"queue": "q", "lease_seconds": 1.5, "wait_seconds": 0.5}
    settings.update(options)
    return Worker(client, **settings)


@contextlib.asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(worker.run(install_signal_handlers=False))
    try:
        yield task
    finally:
        worker.stop()
        async with asyncio.timeout(10):
            await task


async def test_a_returning_async_handler_completes_the_task_with_its_result(
    client: Client,
) -> None:
    worker = make_worker(client)

    @worker.handler("add")
    async def add(ctx: TaskContext, payload: dict[str, int]) -> int:
        return payload["a"] + payload["b"]

    queued = await client.enqueue("q", "add", {"a": 2, "b": 3})
    async with running(worker):
        done = await client.wait_for(queued.id, timeout=5)
    assert (done.state, done.result, done.attempts) == ("succeeded", 5, 1)


async def test_a_sync_handler_runs_in_a_worker_thread(client: Client) -> None:
    worker = make_worker(client)
    threads: list[threading.Thread] = []

    @worker.handler("sync")
    def handle(ctx: TaskContext, payload: Any) -> str:
        threads.append(threading.current_thread())
        return f"ran {ctx.type} v{ctx.version} attempt {ctx.attempt}"

    queued = await client.enqueue("q", "sync")
    async with running(worker):
        done = await client.wait_for(queued.id, timeout=5)
    assert done.result == "ran sync v1 attempt 1"
    assert threads and threads[0] is not threading.main_thread()


async def test_raising_retry_runs_the_task_again_after_the_given_delay(client: Client) -> None:
    worker = make_worker(client)
    attempts: list[int] = []

    @worker.handler("flaky")
    async def flaky(ctx: TaskContext, payload: Any) -> str:
        attempts.append(ctx.attempt)
        if ctx.attempt < 3:
            raise Retry("not yet", delay=0)
        return "finally"

    queued = await client.enqueue("q", "flaky")
    async with running(worker):
        done = await client.wait_for(queued.id, timeout=10)
    assert (done.state, done.result, attempts) == ("succeeded", "finally", [1, 2, 3])
    assert done.last_error == "not yet"


async def test_raising_fatal_sends_the_task_to_the_dead_letter_list_at_once(
    client: Client,
) -> None:
    worker = make_worker(client)

    @worker.handler("doomed")
    async def doomed(ctx: TaskContext, payload: Any) -> None:
        raise Fatal("the address does not exist")

    queued = await client.enqueue("q", "doomed", max_attempts=5)
    async with running(worker):
        done = await client.wait_for(queued.id, timeout=5)
    assert (done.state, done.attempts, done.last_error) == (
        "dead",
        1,
        "the address does not exist",
    )
    dead = await client.list(queue="q", state="dead")
    assert [t.id for t in dead.tasks] == [queued.id]


async def test_any_other_exception_retries_under_the_policy_then_dead_letters(
    client: Client,
) -> None:
    worker = make_worker(client)

    @worker.handler("broken")
    async def broken(ctx: TaskContext, payload: Any) -> None:
        raise KeyError("missing-field")

    queued = await client.enqueue("q", "broken", max_attempts=3, retry=FAST_RETRY)
    async with running(worker):
        done = await client.wait_for(queued.id, timeout=10)
    assert (done.state, done.attempts) == ("dead", 3)
    assert done.last_error is not None
    assert "KeyError: 'missing-field'" in done.last_error
    assert "in broken" in done.last_error  # a traceback summary, not just the message


async def test_heartbeats_keep_a_task_alive_past_its_lease_duration(client: Client) -> None:
    worker = make_worker(client, lease_seconds=1.0)

    @worker.handler("slow")
    async def slow(ctx: TaskContext, payload: Any) -> str:
        await asyncio.sleep(2.6)
        assert not ctx.lease_lost.is_set()
        return "done"

    queued = await client.enqueue("q", "slow")
    async with running(worker):
        done = await client.wait_for(queued.id, timeout=10)
    assert (done.state, done.attempts, done.epoch) == ("succeeded", 1, 1)


async def test_a_lost_lease_cancels_the_handler_and_reports_nothing(
    client: Client, store: InMemoryTaskStore
) -> None:
    worker = make_worker(client, lease_seconds=1.5)
    started, cancelled = asyncio.Event(), asyncio.Event()
    contexts: list[TaskContext] = []

    @worker.handler("long")
    async def long(ctx: TaskContext, payload: Any) -> str:
        contexts.append(ctx)
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "must not be reported"

    queued = await client.enqueue("q", "long")
    async with running(worker):
        await asyncio.wait_for(started.wait(), 5)
        # Another worker takes the task over once the lease has (by its clock) expired.
        [_stolen] = await store.lease(
            StoreLeaseRequest("q", "thief", 1, timedelta(seconds=60)),
            now=(await store.get(queued.id)).lease.expires_at + timedelta(seconds=1),  # type: ignore[union-attr]
        )
        await asyncio.wait_for(cancelled.wait(), 5)
        assert worker.reporter is not None and worker.reporter.batch_sizes == []
    task = await client.get(queued.id)
    assert task.state == "leased" and task.lease is not None
    assert (task.lease.owner, task.epoch) == ("thief", 2)
    assert contexts[0].lease_lost.is_set() and contexts[0].epoch == 1


async def test_cancelling_a_running_task_stops_its_handler(client: Client) -> None:
    worker = make_worker(client, lease_seconds=1.5)
    started, cancelled = asyncio.Event(), asyncio.Event()

    @worker.handler("long")
    async def long(ctx: TaskContext, payload: Any) -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    queued = await client.enqueue("q", "long")
    async with running(worker):
        await asyncio.wait_for(started.wait(), 5)
        await client.cancel(queued.id)
        await asyncio.wait_for(cancelled.wait(), 5)
        assert worker.reporter is not None and worker.reporter.batch_sizes == []
    assert (await client.get(queued.id)).state == "cancelled"


async def test_shutdown_releases_tasks_still_running_after_the_grace_period(
    client: Client,
) -> None:
    worker = make_worker(client, concurrency=3, grace_seconds=0.2)
    started = asyncio.Semaphore(0)

    @worker.handler("stuck")
    async def stuck(ctx: TaskContext, payload: Any) -> None:
        started.release()
        await asyncio.Event().wait()

    ids = [(await client.enqueue("q", "stuck", n)).id for n in range(3)]
    async with running(worker):
        for _ in ids:
            await asyncio.wait_for(started.acquire(), 5)
    tasks = [await client.get(i) for i in ids]
    assert [(t.state, t.attempts) for t in tasks] == [("pending", 0)] * 3

    # None is lost: the next worker takes them at once and finishes them.
    successor = make_worker(client, concurrency=3)

    @successor.handler("stuck")
    async def unstuck(ctx: TaskContext, payload: Any) -> int:
        return int(payload)

    async with running(successor):
        done = [await client.wait_for(i, timeout=5) for i in ids]
    assert [(t.state, t.result, t.attempts) for t in done] == [
        ("succeeded", n, 1) for n in range(3)
    ]


async def test_shutdown_lets_running_handlers_finish_within_the_grace_period(
    client: Client,
) -> None:
    worker = make_worker(client, grace_seconds=10)
    started, finish = asyncio.Event(), asyncio.Event()

    @worker.handler("brief")
    async def brief(ctx: TaskContext, payload: Any) -> str:
        started.set()
        await finish.wait()
        return "finished"

    queued = await client.enqueue("q", "brief")
    run = asyncio.create_task(worker.run(install_signal_handlers=False))
    await asyncio.wait_for(started.wait(), 5)
    worker.stop()
    await asyncio.sleep(0.05)
    assert not run.done()  # still waiting for the handler
    finish.set()
    await asyncio.wait_for(run, 5)
    assert (await client.get(queued.id)).result == "finished"


async def test_a_version_without_a_handler_is_left_for_other_workers(client: Client) -> None:
    worker = make_worker(client)

    @worker.handler("resize", version=1)
    async def resize_v1(ctx: TaskContext, payload: Any) -> str:
        return "v1"

    newer = await client.enqueue("q", "resize", version=2)
    older = await client.enqueue("q", "resize", version=1)
    async with running(worker):
        assert (await client.wait_for(older.id, timeout=5)).result == "v1"
    untouched = await client.get(newer.id)
    assert (untouched.state, untouched.attempts) == ("pending", 0)


async def test_results_finishing_together_are_reported_in_batches(client: Client) -> None:
    worker = make_worker(client, concurrency=20)
    gate = asyncio.Event()
    arrived = asyncio.Semaphore(0)

    @worker.handler("together")
    async def together(ctx: TaskContext, payload: int) -> int:
        arrived.release()
        await gate.wait()
        return payload

    ids = [(await client.enqueue("q", "together", n)).id for n in range(20)]
    async with running(worker):
        for _ in ids:
            await asyncio.wait_for(arrived.acquire(), 5)
        gate.set()
        done = [await client.wait_for(i, timeout=5) for i in ids]
        assert worker.reporter is not None
        sizes = worker.reporter.batch_sizes
    assert [t.result for t in done] == list(range(20))
    assert sum(sizes) == 20 and len(sizes) < 20 and max(sizes) > 1


async def test_a_handler_timeout_retries_the_task(client: Client) -> None:
    worker = make_worker(client)
    attempts: list[int] = []

    @worker.handler("hangs", timeout=0.1)
    async def hangs(ctx: TaskContext, payload: Any) -> str:
        attempts.append(ctx.attempt)
        if ctx.attempt == 1:
            await asyncio.sleep(60)
        return "second time lucky"

    queued = await client.enqueue("q", "hangs", retry=FAST_RETRY)
    async with running(worker):
        done = await client.wait_for(queued.id, timeout=5)
    assert (done.state, attempts) == ("succeeded", [1, 2])
    assert "TimeoutError" in (done.last_error or "")


def test_the_public_names_import_from_leaseq_sdk() -> None:
    from leaseq.sdk import Client, Fatal, Retry, SyncClient, TaskContext, Worker  # noqa: F401


@pytest.mark.parametrize("concurrency", [0, -1])
def test_a_worker_needs_at_least_one_slot(client: Client, concurrency: int) -> None:
    with pytest.raises(ValueError):
        Worker(client, queue="q", concurrency=concurrency)


async def test_a_handler_object_with_an_async_call_is_awaited_on_the_event_loop(
    client: Client,
) -> None:
    worker = make_worker(client)

    class Doubler:
        async def __call__(self, ctx: TaskContext, payload: int) -> tuple[int, bool]:
            return payload * 2, threading.current_thread() is threading.main_thread()

    worker.handler("double")(Doubler())
    queued = await client.enqueue("q", "double", 21)
    async with running(worker):
        done = await client.wait_for(queued.id, timeout=5)
    assert done.result == [42, True]


async def test_tasks_granted_to_a_claim_in_flight_at_stop_are_released_unrun(
    service: Any, store: InMemoryTaskStore
) -> None:
    from leaseq.sdk.transport.inprocess import InProcessTransport

    client = Client(InProcessTransport(service))
    worker = make_worker(client, wait_seconds=1.0)
    ran: list[Any] = []

    @worker.handler("late")
    async def late(ctx: TaskContext, payload: Any) -> None:
        ran.append(payload)

    run = asyncio.create_task(worker.run(install_signal_handlers=False))
    async with asyncio.timeout(5):
        while service.waiting == 0:  # noqa: ASYNC110 - the service exposes a count, no event
            await asyncio.sleep(0.005)
    worker.stop()
    queued = await client.enqueue("q", "late", "arrived during shutdown")
    await asyncio.wait_for(run, 5)
    task = await client.get(queued.id)
    # Withdrawn with the claim in flight, or granted to it and given back: never run.
    assert (task.state, task.attempts, ran) == ("pending", 0, [])


class UnreachableHeartbeats:
    """A transport whose heartbeats never get through (a partition), all else works:
    any object with the Transport methods plugs into the worker."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.heartbeats = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def heartbeat(self, task_id: Any, token: str, lease_seconds: float) -> Any:
        from leaseq.sdk import TransportError

        self.heartbeats += 1
        raise TransportError("connection reset", request_sent=True)


async def test_a_handler_whose_heartbeats_go_unanswered_stops_when_its_lease_runs_out(
    service: Any,
) -> None:
    from leaseq.sdk.transport.inprocess import InProcessTransport

    client = Client(InProcessTransport(service))
    transport = UnreachableHeartbeats(client.transport)
    worker = Worker(transport, queue="q", lease_seconds=1.0, wait_seconds=0.5)
    stopped = asyncio.Event()
    contexts: list[TaskContext] = []

    @worker.handler("long")
    async def long(ctx: TaskContext, payload: Any) -> None:
        contexts.append(ctx)
        try:
            await asyncio.sleep(60)
        finally:
            stopped.set()

    queued = await client.enqueue("q", "long")
    async with running(worker):
        await asyncio.wait_for(stopped.wait(), 5)
        assert contexts[0].time_left() <= 0  # stopped at the deadline, not before
        assert worker.reporter is not None and worker.reporter.batch_sizes == []
    assert transport.heartbeats >= 2 and contexts[0].lease_lost.is_set()
    # The expired task is claimable again (here, by this same worker once more).
    assert (await client.get(queued.id)).state in ("pending", "leased")


# -- prefetch ------------------------------------------------------------------------


async def test_with_prefetch_the_next_tasks_are_leased_while_every_slot_is_busy(
    client: Client,
) -> None:
    worker = make_worker(client, concurrency=1, prefetch=2)
    gate = asyncio.Event()
    ran: list[int] = []

    @worker.handler("step")
    async def step(ctx: TaskContext, payload: int) -> int:
        ran.append(payload)
        await gate.wait()
        return payload

    ids = [(await client.enqueue("q", "step", n)).id for n in range(4)]
    async with running(worker):
        async with asyncio.timeout(5):
            while worker.buffered < 2:  # noqa: ASYNC110 - no event for this
                await asyncio.sleep(0.01)
        states = [(await client.get(i)).state for i in ids]
        # One runs, two wait in the buffer holding their leases, the fourth is left.
        assert (ran, states) == ([0], ["leased", "leased", "leased", "pending"])
        gate.set()
        done = [await client.wait_for(i, timeout=5) for i in ids]
    assert [(t.state, t.result, t.attempts) for t in done] == [
        ("succeeded", n, 1) for n in range(4)
    ]
    assert ran == [0, 1, 2, 3]


async def run_until_a_handler_waits(
    client: Client, worker: Worker, durations: list[float], waiting: int = 3
) -> tuple[list[str], int]:
    """Tasks whose handlers take `durations`, then `waiting` whose handlers wait: every
    task's state, and how many the worker holds unstarted, once the first waiting one has
    run."""
    started, gate = asyncio.Event(), asyncio.Event()

    @worker.handler("step")
    async def step(ctx: TaskContext, payload: int) -> None:
        if payload < len(durations):
            await asyncio.sleep(durations[payload])
            return
        started.set()
        await gate.wait()

    ids = [(await client.enqueue("q", "step", n)).id for n in range(len(durations) + waiting)]
    async with running(worker):
        await asyncio.wait_for(started.wait(), 5)
        await asyncio.sleep(0.2)
        states = [(await client.get(i)).state for i in ids]
        buffered = worker.buffered
        gate.set()
    return states, buffered


async def test_without_prefetch_nothing_is_leased_beyond_the_free_slots(client: Client) -> None:
    worker = make_worker(client, concurrency=1, prefetch=0)
    # Short handlers first: they would turn the automatic prefetch on.
    states, buffered = await run_until_a_handler_waits(client, worker, [0.0, 0.0])
    assert (states, buffered) == (["succeeded"] * 2 + ["leased", "pending", "pending"], 0)


async def test_by_default_short_handlers_turn_the_prefetch_on(client: Client) -> None:
    worker = make_worker(client, concurrency=1)
    states, buffered = await run_until_a_handler_waits(client, worker, [0.0, 0.0], waiting=6)
    # One runs; four wait in the buffer holding their leases: handlers this short start
    # many within 50 ms, and one slot holds at most four (ADR 0039); the sixth is left.
    assert (states, buffered) == (["succeeded"] * 2 + ["leased"] * 5 + ["pending"], 4)


async def test_by_default_a_slow_handler_turns_the_prefetch_off_at_once(client: Client) -> None:
    worker = make_worker(client, concurrency=1)
    # The first, short, turns it on: the second lease request takes five (one slot, four
    # waiting). The second task, slower than 50 ms, turns it off: the four it leased run
    # in turn (three still wait), and nothing more is leased.
    states, buffered = await run_until_a_handler_waits(client, worker, [0.0, 0.1], waiting=6)
    assert (states, buffered) == (["succeeded"] * 2 + ["leased"] * 4 + ["pending"] * 2, 3)


async def test_prefetched_tasks_are_released_unrun_on_stop(client: Client) -> None:
    worker = make_worker(client, concurrency=1, prefetch=2, grace_seconds=5)
    started, gate = asyncio.Event(), asyncio.Event()
    ran: list[int] = []

    @worker.handler("step")
    async def step(ctx: TaskContext, payload: int) -> int:
        ran.append(payload)
        started.set()
        await gate.wait()
        return payload

    ids = [(await client.enqueue("q", "step", n)).id for n in range(3)]
    run = asyncio.create_task(worker.run(install_signal_handlers=False))
    await asyncio.wait_for(started.wait(), 5)
    async with asyncio.timeout(5):
        while worker.buffered < 2:  # noqa: ASYNC110 - no event for this
            await asyncio.sleep(0.01)
    worker.stop()
    await asyncio.sleep(0.05)
    gate.set()  # the running one finishes within the grace period
    await asyncio.wait_for(run, 5)
    tasks = [await client.get(i) for i in ids]
    assert ran == [0]
    assert [(t.state, t.attempts) for t in tasks] == [
        ("succeeded", 1),
        ("pending", 0),  # given back without spending the attempt
        ("pending", 0),
    ]


async def test_a_prefetched_task_whose_lease_may_have_run_out_is_not_run(
    client: Client,
) -> None:
    # One slot, held longer than the lease: the task waiting behind it is given back
    # (at half its lease, or when a slot frees after that) and only ever runs under a
    # fresh lease, never the one it waited with.
    worker = make_worker(client, concurrency=1, prefetch=1, lease_seconds=1.0)
    first_started, release_first = asyncio.Event(), asyncio.Event()
    runs: list[tuple[int, int, float]] = []

    @worker.handler("step")
    async def step(ctx: TaskContext, payload: int) -> int:
        runs.append((payload, ctx.epoch, ctx.time_left()))
        if payload == 0:
            first_started.set()
            await release_first.wait()
        return payload

    first = await client.enqueue("q", "step", 0)
    await client.enqueue("q", "step", 1, priority=-1)
    async with running(worker):
        await asyncio.wait_for(first_started.wait(), 5)
        await asyncio.sleep(1.3)  # past the waiting task's whole first lease
        release_first.set()
        done = await client.wait_for(first.id, timeout=5)
        [second] = [t for t in (await client.list(queue="q")).tasks if t.id != first.id]
        second = await client.wait_for(second.id, timeout=5)
    assert (done.state, second.state, second.attempts) == ("succeeded", "succeeded", 1)
    [(_, epoch, time_left)] = [r for r in runs if r[0] == 1]
    assert epoch > 1  # the lease it was prefetched with was given back, not used
    assert time_left > 1.0 / 2 - 0.1


async def leased_again_by(client: Client, task_id: Any, deadline: float) -> int:
    """The task's epoch once it is 2 or more (leased again), or at `deadline` (monotonic)."""
    epoch = (await client.get(task_id)).epoch
    while epoch < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
        epoch = (await client.get(task_id)).epoch
    return epoch


async def test_a_waiting_task_from_a_later_grant_is_given_back_at_half_its_own_lease(
    client: Client,
) -> None:
    # Two waiting tasks from two lease requests: when the older starts, the stale timer
    # armed for it stays, fires early for the younger, and must be armed again for it:
    # the younger is given back at half its own lease while the slot is still busy (and
    # leased again: a new epoch), not kept until the slot frees.
    worker = make_worker(client, concurrency=1, prefetch=2, lease_seconds=1.0, wait_seconds=2.0)
    gate, second_started = asyncio.Event(), asyncio.Event()

    @worker.handler("step")
    async def step(ctx: TaskContext, payload: int) -> None:
        if payload == 0:
            await asyncio.sleep(0.3)  # the slot frees after the third task's grant
        elif payload == 1:
            second_started.set()
            await gate.wait()

    await client.enqueue("q", "step", 0)
    await client.enqueue("q", "step", 1, priority=-1)
    async with running(worker):
        await asyncio.sleep(0.15)  # the first grant has both; the next request long-polls
        third = await client.enqueue("q", "step", 2)
        granted = time.monotonic()
        await asyncio.wait_for(second_started.wait(), 5)
        epoch = await leased_again_by(client, third.id, granted + 0.9)  # its lease ends at ~1 s
        still_waiting = not gate.is_set()
        gate.set()
        done = await client.wait_for(third.id, timeout=5)
    assert (epoch >= 2, still_waiting, done.state) == (True, True, "succeeded")


async def test_a_stale_task_given_back_makes_room_to_lease_again(client: Client) -> None:
    # The slot and the one place to wait are full, so the claim loop waits for room. The
    # waiting task goes stale at half its lease and is given back: that room must wake the
    # loop, which leases the task again (a new epoch) while the slot is still busy.
    worker = make_worker(client, concurrency=1, prefetch=1, lease_seconds=1.0, wait_seconds=2.0)
    gate, first_started = asyncio.Event(), asyncio.Event()

    @worker.handler("step")
    async def step(ctx: TaskContext, payload: int) -> None:
        if payload == 0:
            first_started.set()
            await gate.wait()

    await client.enqueue("q", "step", 0)
    waiting = await client.enqueue("q", "step", 1, priority=-1)
    async with running(worker):
        await asyncio.wait_for(first_started.wait(), 5)
        begun = time.monotonic()
        epoch = await leased_again_by(client, waiting.id, begun + 1.5)
        still_busy = not gate.is_set()
        gate.set()
        done = await client.wait_for(waiting.id, timeout=5)
    assert (epoch >= 2, still_busy, done.state) == (True, True, "succeeded")


@pytest.mark.parametrize("prefetch", [-1])
def test_prefetch_cannot_be_negative(client: Client, prefetch: int) -> None:
    with pytest.raises(ValueError):
        Worker(client, queue="q", prefetch=prefetch)


class RecordingHeartbeats:
    """A transport that notes when each task's heartbeats are sent."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.sent: dict[Any, list[float]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def heartbeat(self, task_id: Any, token: str, lease_seconds: float) -> Any:
        self.sent.setdefault(task_id, []).append(time.monotonic())
        return await self.inner.heartbeat(task_id, token, lease_seconds)


async def test_a_prefetched_task_starting_late_in_its_lease_heartbeats_at_once(
    service: Any,
) -> None:
    from leaseq.sdk.transport.inprocess import InProcessTransport

    # The lease clock starts at the grant: the second task waits ~1.2 s for the slot, past
    # its first heartbeat's due time (1.0 s into a 3 s lease), so it is renewed as soon as
    # it starts, not a third of a lease later.
    client = Client(InProcessTransport(service))
    transport = RecordingHeartbeats(client.transport)
    worker = Worker(
        transport, queue="q", concurrency=1, prefetch=1, lease_seconds=3.0, wait_seconds=0.5
    )
    starts: dict[int, tuple[float, int]] = {}

    @worker.handler("step")
    async def step(ctx: TaskContext, payload: int) -> None:
        starts[payload] = (time.monotonic(), ctx.epoch)
        await asyncio.sleep(1.2 if payload == 0 else 0.6)

    first = await client.enqueue("q", "step", 0)
    second = await client.enqueue("q", "step", 1, priority=-1)
    async with running(worker):
        await client.wait_for(first.id, timeout=5)
        await client.wait_for(second.id, timeout=5)
    started, epoch = starts[1]
    assert epoch == 1  # it ran with the lease it was prefetched with
    assert starts[1][0] - starts[0][0] > 1.0  # it did wait for the slot
    beats = transport.sent.get(second.id, [])
    assert beats and beats[0] - started < 0.4


async def test_a_lease_request_never_asks_for_more_than_the_service_grants_at_once(
    client: Client,
) -> None:
    # 800 slots + 800 prefetched: one request for 1,600 would be refused (1..1000), and a
    # refused claim is a configuration error that stops the worker.
    worker = make_worker(client, concurrency=800, prefetch=800)

    @worker.handler("one")
    async def one(ctx: TaskContext, payload: Any) -> str:
        return "ran"

    queued = await client.enqueue("q", "one")
    async with running(worker):
        done = await client.wait_for(queued.id, timeout=5)
    assert done.result == "ran"
    assert max(worker.claim_sizes) == 1000


async def test_a_task_answering_a_long_poll_late_in_its_lease_still_runs(
    service: Any,
) -> None:
    from leaseq.sdk.transport.inprocess import InProcessTransport

    # The lease request waits 0.7 s of a 1 s lease before the task arrives: with a free
    # slot it runs under that lease (its first heartbeat is due at once), it is not
    # treated as a prefetched task that waited too long.
    client = Client(InProcessTransport(service))
    worker = make_worker(client, lease_seconds=1.0, wait_seconds=2.0)
    epochs: list[int] = []

    @worker.handler("late")
    async def late(ctx: TaskContext, payload: Any) -> None:
        epochs.append(ctx.epoch)

    async with running(worker):
        async with asyncio.timeout(5):
            while service.waiting == 0:  # noqa: ASYNC110 - the service exposes a count
                await asyncio.sleep(0.005)
        await asyncio.sleep(0.7)
        queued = await client.enqueue("q", "late")
        done = await client.wait_for(queued.id, timeout=5)
    assert (done.state, done.attempts, epochs) == ("succeeded", 1, [1])


async def test_a_task_answering_a_long_poll_after_a_whole_lease_still_gets_its_whole_lease(
    service: Any,
) -> None:
    from leaseq.sdk.transport.inprocess import InProcessTransport

    # The lease request waits 1.4 s, longer than the 1 s lease, before the task arrives.
    # Counted from the request's sending, the lease would look spent on arrival and the
    # handler be stopped at once, the task left to expire; the service says how long the
    # request waited, so the worker counts the lease from the grant (ADR 0022).
    client = Client(InProcessTransport(service))
    worker = make_worker(client, lease_seconds=1.0, wait_seconds=2.0)
    ran: list[float] = []

    @worker.handler("late")
    async def late(ctx: TaskContext, payload: Any) -> None:
        ran.append(ctx.time_left())
        await asyncio.sleep(0.5)

    async with running(worker):
        async with asyncio.timeout(5):
            while service.waiting == 0:  # noqa: ASYNC110 - the service exposes a count
                await asyncio.sleep(0.005)
        await asyncio.sleep(1.4)
        queued = await client.enqueue("q", "late")
        done = await client.wait_for(queued.id, timeout=5)
    assert (done.state, done.attempts) == ("succeeded", 1)
    assert ran and ran[0] > 0.5  # most of the lease was left, not none of it


async def test_granted_tasks_start_before_the_next_lease_request_goes_out(
    service: Any,
) -> None:
    from leaseq.sdk.transport.inprocess import InProcessTransport
    from leaseq.sdk.types import LeaseInfo, LeaseRequest

    # Encoding and writing the next (long-poll) request first delayed every handler
    # start by that work, and over HTTP by the service it wakes (ADR 0016).
    steps: list[str] = []

    class Recording(InProcessTransport):
        async def lease(self, request: LeaseRequest) -> list[LeaseInfo]:
            steps.append("lease request")
            return await super().lease(request)

    client = Client(Recording(service))
    worker = make_worker(client, wait_seconds=1.0)

    @worker.handler("one")
    async def one(ctx: TaskContext, payload: Any) -> None:
        steps.append("handler")

    queued = await client.enqueue("q", "one")
    async with running(worker):
        await client.wait_for(queued.id, timeout=5)
    assert steps[:3] == ["lease request", "handler", "lease request"]


# -- results ride on the next lease request (ADR 0033) ------------------------------------


class _SlowReports:
    """The client's transport with each report call taking `pause` seconds longer, so that
    results finish while one is in flight; `fail_rides`: every lease request that carries
    results fails (the service is unavailable)."""

    def __init__(self, inner: Any, *, pause: float = 0.2, fail_rides: bool = False) -> None:
        self._inner = inner
        self._pause = pause
        self._fail_rides = fail_rides
        self.reports = 0
        self.rides_refused = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def report(self, outcomes: Any) -> Any:
        self.reports += 1
        await asyncio.sleep(self._pause)
        return await self._inner.report(outcomes)

    async def lease_and_report(self, request: Any, outcomes: Any) -> Any:
        if self._fail_rides:
            self.rides_refused += 1
            raise ServiceUnavailable("the database is down")
        return await self._inner.lease_and_report(request, outcomes)


async def test_results_waiting_for_the_report_in_flight_ride_on_the_next_lease_request(
    client: Client,
) -> None:
    transport = _SlowReports(client.transport)
    # Without the prefetch, each lease request waits for a slot, so it goes out right
    # after handlers finish: the case riding is for. (With it, lease requests go out while
    # handlers run and take up to 20 tasks each: 40 tasks need too few for the count.)
    worker = Worker(
        transport, queue="q", concurrency=4, prefetch=0, lease_seconds=5, wait_seconds=0.5
    )

    @worker.handler("short")
    async def short(ctx: TaskContext, payload: int) -> int:
        await asyncio.sleep(0.01)
        return payload

    requests = [TaskRequest("q", "short", n) for n in range(40)]
    ids = [t.id for t in await client.enqueue_many(requests)]
    async with running(worker):
        done = [await client.wait_for(i, timeout=10) for i in ids]
        assert worker.reporter is not None
        rode = worker.reporter.rode
    assert [t.result for t in done] == list(range(40))
    # a report takes 0.2 s, a task 0.01 s: nearly every result finishes behind one
    assert rode >= 30, f"only {rode} of 40 results rode on a lease request"
    assert transport.reports <= 10


async def test_results_are_sent_at_once_when_no_report_is_in_flight(client: Client) -> None:
    """A lone result rides on nothing: it goes at once, never waiting for a long poll."""
    worker = make_worker(client, concurrency=2, wait_seconds=2)  # the service's longest

    @worker.handler("quick")
    async def quick(ctx: TaskContext, payload: Any) -> str:
        await asyncio.sleep(0.2)  # the claim loop is waiting on its long poll by now
        return "done"

    queued = await client.enqueue("q", "quick")
    async with running(worker):
        done = await client.wait_for(queued.id, timeout=1.5)  # held: 2 s
        assert done.state == "succeeded"
        assert worker.reporter is not None and worker.reporter.rode == 0


async def test_results_of_a_failed_lease_request_are_reported_on_their_own(
    client: Client,
) -> None:
    transport = _SlowReports(client.transport, fail_rides=True)
    # Without the prefetch, so that lease requests follow finished handlers (as above).
    worker = Worker(
        transport, queue="q", concurrency=4, prefetch=0, lease_seconds=5, wait_seconds=0.5
    )

    @worker.handler("one")
    async def one(ctx: TaskContext, payload: int) -> int:
        await asyncio.sleep(0.01)
        return payload

    requests = [TaskRequest("q", "one", n) for n in range(12)]
    ids = [t.id for t in await client.enqueue_many(requests)]
    async with running(worker):
        done = [await client.wait_for(i, timeout=15) for i in ids]
    assert [t.state for t in done] == ["succeeded"] * 12
    assert transport.rides_refused > 0  # results did ride, and were handed back
