"""Coalesces task results into batch reports.

A result is sent at once when no report is in flight; results that finish while one is
in flight wait for it and go together in the next call. So a lone task pays no added
latency, and many tasks finishing together cost one round trip.
"""

from __future__ import annotations

import asyncio
import logging
import random

from leaseq.sdk.errors import LeaseqClientError
from leaseq.sdk.retrying import REPORT_RETRIES, RetryRule, is_retriable
from leaseq.sdk.transport.base import Transport
from leaseq.sdk.types import Outcome, TaskInfo

Answer = TaskInfo | LeaseqClientError
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
        self._waiting: list[tuple[Outcome, asyncio.Future[Answer]]] = []
        self._wake = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._closing = False
        self.batch_sizes: list[int] = []  # the recent ones, observable for tests and tuning

    def start(self) -> None:
        self._flusher = asyncio.create_task(self._flush_forever(), name="leaseq-reporter")

    async def submit(self, outcome: Outcome) -> Answer:
        """Queue one result; answers with the task as it now stands or the refusal."""
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._waiting.append((outcome, future))
        self._wake.set()
        return await future

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
                await self._send(batch)
            if self._closing:
                return

    async def _send(self, batch: list[tuple[Outcome, asyncio.Future[Answer]]]) -> None:
        self.batch_sizes.append(len(batch))
        if len(self.batch_sizes) > RECENT:  # the recent ones only: a worker runs for months
            del self.batch_sizes[: RECENT // 2]
        outcomes = [outcome for outcome, _ in batch]
        for number in range(self._retries.attempts):
            try:
                answers = await self._transport.report(outcomes)
                break
            except LeaseqClientError as error:
                last = number + 1 >= self._retries.attempts
                # A repeated report is harmless: an outcome already applied is refused
                # as lease_lost, never applied twice.
                if last or not is_retriable(error, safe=True):
                    answers = [error] * len(batch)
                    break
                self._logger.warning("reporting results failed, retrying: %s", error)
                await asyncio.sleep(self._retries.pause(number, random.random()))
        for (_, future), answer in zip(batch, answers, strict=True):
            if not future.done():
                future.set_result(answer)


__all__ = ["ResultReporter"]
