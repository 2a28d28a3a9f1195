"""The result reporter keeps a result through an outage while its lease may be live."""

from __future__ import annotations

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
