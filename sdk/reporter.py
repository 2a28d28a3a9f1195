"""Coalesces task results into batch reports.

A result is sent at once when no report is in flight; results that finish while one is
in flight wait for it and go together in the next call. So a lone task pays no added
latency, and many tasks finishing together cost one round trip.

Results that wait for the report in flight may instead ride on the worker's next lease
request (ADR 0033): the worker `take`s them into it, so they need no call of their own and
wait for nothing more. Results a lease request took and could not deliver (it failed, or
was withdrawn at a stop) are handed back and sent from here.

A report that fails with no answer (or a 503) is sent again: at least `retries.attempts`
times, and beyond that for as long as a lease in the batch may still be live (its local
deadline), so a database outage shorter than the lease does not throw finished work away.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

from leaseq.sdk.errors import LeaseqClientError
from leaseq.sdk.retrying import REPORT_RETRIES, RetryRule, is_retriable
from leaseq.sdk.transport.base import Transport
from leaseq.sdk.types import Outcome, Reported

Answer = Reported | LeaseqClientError
# A result waiting to be sent: the outcome, its lease's local deadline, who gets the answer.
Waiting = tuple[Outcome, float, Callable[[Answer], None]]
RECENT = 1024  # how many batch sizes stay observable


class ResultReporter:
    def __init__(
        self,
        transport: Transport,
        *,
        max_batch: int = 100,
        retries: RetryRule = REPORT_RETRIES,
        logger: logging.Logger,
    ) -> None:
        self._transport = transport
        self._max_batch = max_batch
        self._retries = retries
        self._logger = logger
        self._waiting: list[Waiting] = []
        self._wake = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._closing = False
        self._in_flight = False  # a report call is under way
        # the recent batches, sent here or with a lease request; observable for tests and tuning
        self.batch_sizes: list[int] = []
        self.rode = 0  # results answered with a lease request (observable)

    def start(self) -> None:
        self._flusher = asyncio.create_task(self._flush_forever(), name="leaseq-reporter")

    async def submit(self, outcome: Outcome, *, deadline: float = 0.0) -> Answer:
        """Queue one result; answers with the task as it now stands or the refusal.
        `deadline` (`time.monotonic()`) is when its lease runs out at the latest."""
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self.submit_nowait(outcome, deadline, _resolver(future))
        return await future

    def submit_nowait(
        self, outcome: Outcome, deadline: float, answered: Callable[[Answer], None]
    ) -> None:
        """Queue one result; `answered` is called with the task as it now stands or the
        refusal (what `submit` returns), from the reporter's task. No future, no waiter."""
        self._waiting.append((outcome, deadline, answered))
        self._wake.set()

    @property
    def riders(self) -> int:
        """How many results `take` would give a lease request now."""
        return min(len(self._waiting), self._max_batch) if self._in_flight else 0

    def take(self) -> list[Waiting]:
        """Up to a batch of the waiting results, for a lease request to carry: only while
        a report is in flight, when they would otherwise wait for it."""
        if not self._in_flight:
            return []
        batch = self._waiting[: self._max_batch]
        del self._waiting[: len(batch)]
        return batch

    def hand_back(self, batch: list[Waiting]) -> None:
        """Results a lease request took but may not have delivered: sent from here (a
        repeat of an applied one is answered with the first answer, ADR 0021)."""
        self._waiting[:0] = batch
        self._wake.set()

    def deliver(self, batch: list[Waiting], answers: list[Answer], *, rode: bool = False) -> None:
        """Tell each result's caller its answer (`rode`: it came with a lease request's)."""
        if rode:
            self.rode += len(batch)
            self._sized(len(batch))
        for (_, _, answered), answer in zip(batch, answers, strict=True):
            try:
                answered(answer)
            except Exception:  # one broken callback must not lose the others' answers
                self._logger.exception("handling a report answer failed")

    async def close(self) -> None:
        """Send what is waiting, then stop."""
        self._closing = True
        self._wake.set()
        if self._flusher is not None:
            await self._flusher

    async def _flush_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: len(batch)]
                self._in_flight = True
                try:
                    await self._send(batch)
                finally:
                    self._in_flight = False
            if self._closing:
                return

    def _sized(self, size: int) -> None:
        self.batch_sizes.append(size)
        if len(self.batch_sizes) > RECENT:  # the recent ones only: a worker runs for months
            del self.batch_sizes[: RECENT // 2]

    async def _send(self, batch: list[Waiting]) -> None:
        self._sized(len(batch))
        outcomes = [outcome for outcome, _, _ in batch]
        live_until = max(deadline for _, deadline, _ in batch)
        number = 0
        while True:
            try:
                answers = await self._transport.report(outcomes)
                break
            except LeaseqClientError as error:
                pause = self._retries.pause(min(number, 16), random.random())
                number += 1
                spent = number >= self._retries.attempts
                # A repeated report is harmless: the service answers a repeat of an
                # applied outcome as it answered the first (ADR 0021), never applies twice.
                if not is_retriable(error, safe=True) or (
                    spent and time.monotonic() + pause >= live_until
                ):
                    answers = [error] * len(batch)
                    break
                self._logger.warning("reporting results failed, retrying: %s", error)
                await asyncio.sleep(pause)
        self.deliver(batch, answers)


def _resolver(future: asyncio.Future[Answer]) -> Callable[[Answer], None]:
    def resolve(answer: Answer) -> None:
        if not future.done():
            future.set_result(answer)

    return resolve


__all__ = ["ResultReporter"]
