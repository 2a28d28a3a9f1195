"""The result reporter keeps a result through an outage while its lease may be live."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

from leaseq.sdk.errors import ServiceUnavailable
from leaseq.sdk.reporter import ResultReporter
from leaseq.sdk.retrying import RetryRule
from leaseq.sdk.types import Outcome

FAST = RetryRule(attempts=3, base_seconds=0.001, max_seconds=0.005)


class FlakyTransport:
    """Answers 503 to the first `failures` reports, then accepts (answers a marker)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def report(self, outcomes: Sequence[Outcome]) -> list[Any]:
        self.calls += 1
        if self.calls <= self.failures:
            raise ServiceUnavailable(status=503, detail="database down")
        return ["accepted"] * len(outcomes)


async def report_once(transport: FlakyTransport, deadline: float) -> Any:
    reporter = ResultReporter(
        transport,  # type: ignore[arg-type]
        retries=FAST,
        logger=logging.getLogger("test"),
    )
    reporter.start()
    outcome = Outcome(uuid.uuid4(), "token", "complete")
    try:
        return await reporter.submit(outcome, deadline=deadline)
    finally:
        await reporter.close()


async def test_a_report_is_retried_past_its_attempts_while_the_lease_may_be_live() -> None:
    transport = FlakyTransport(failures=20)
    answer = await report_once(transport, deadline=time.monotonic() + 30)
    assert answer == "accepted" and transport.calls == 21


async def test_a_report_whose_lease_has_run_out_gives_up_after_its_attempts() -> None:
    transport = FlakyTransport(failures=20)
    answer = await report_once(transport, deadline=time.monotonic() - 1)
    assert isinstance(answer, ServiceUnavailable) and transport.calls == FAST.attempts


class GatedTransport:
    """Holds each report until `gate` opens, so a report stays in flight."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.calls = 0

    async def report(self, outcomes: Sequence[Outcome]) -> list[Any]:
        self.calls += 1
        await self.gate.wait()
        return ["accepted"] * len(outcomes)


async def test_a_lease_request_takes_only_results_waiting_behind_a_report_in_flight() -> None:
    """ADR 0033: with no report in flight a result is sent at once, and never taken."""
    transport = GatedTransport()
    reporter = ResultReporter(transport, logger=logging.getLogger("test"))  # type: ignore[arg-type]
    reporter.start()
    answers: list[Any] = []
    first, second = (Outcome(uuid.uuid4(), "token", "complete") for _ in range(2))
    reporter.submit_nowait(first, time.monotonic() + 30, answers.append)
    assert (reporter.riders, reporter.take()) == (0, [])  # nothing in flight yet
    await asyncio.sleep(0.01)  # the first is sent, and waits at the gate
    assert transport.calls == 1
    reporter.submit_nowait(second, time.monotonic() + 30, answers.append)
    assert reporter.riders == 1
    taken = reporter.take()
    assert [outcome for outcome, _, _ in taken] == [second] and reporter.riders == 0
    reporter.deliver(taken, ["rode"], rode=True)
    transport.gate.set()
    await reporter.close()
    assert answers == ["rode", "accepted"] and transport.calls == 1 and reporter.rode == 1
