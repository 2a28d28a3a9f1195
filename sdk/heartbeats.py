"""One heartbeat scheduler per worker: renews the leases that are due, and only those.

Each running task's lease is renewed every third of its duration, counted from its grant
(so a task that started late, e.g. after waiting in the prefetch buffer, beats at once).
A single timer wakes at the earliest due time; a heartbeat is a short-lived task created
only then, so a task that finishes within a third of its lease costs two dict operations
and no asyncio task. When a heartbeat is refused (lease lost or expired, task cancelled)
or the lease's local deadline passes with no renewal, the execution is told to stop.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import TYPE_CHECKING

from leaseq.sdk import errors
from leaseq.sdk.telemetry import WorkerTelemetry
from leaseq.sdk.transport.base import Transport

if TYPE_CHECKING:
    from leaseq.sdk.execution import Execution

HEARTBEAT_FRACTION = 1 / 3
RETRY_AFTER = 0.5  # an unanswered heartbeat is tried again this soon (at most)


class Heartbeats:
    def __init__(
        self, transport: Transport, *, lease_seconds: float, telemetry: WorkerTelemetry
    ) -> None:
        self._transport = transport
        self._lease_seconds = lease_seconds
        self._interval = lease_seconds * HEARTBEAT_FRACTION
        self._telemetry = telemetry
        # When each watched execution next needs attention (a beat, or its deadline);
        # math.inf while its heartbeat is in flight.
        self._due: dict[Execution, float] = {}
        self._beats: dict[Execution, asyncio.Task[None]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    def __len__(self) -> int:
        return len(self._due)

    def watch(self, execution: Execution) -> None:
        """Keep this execution's lease alive until `forget`."""
        context = execution.context
        due = min(context.deadline - self._lease_seconds + self._interval, context.deadline)
        self._due[execution] = due
        if due < self._timer_at:
            self._arm(due)

    def forget(self, execution: Execution) -> None:
        """Stop renewing (the handler is done); a heartbeat in flight is cancelled. The
        timer stays armed: if it fires with nothing due, it re-arms for what is."""
        self._due.pop(execution, None)
        beat = self._beats.pop(execution, None)
        if beat is not None:
            beat.cancel()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = None, math.inf
        for beat in self._beats.values():
            beat.cancel()
        self._due.clear()
        self._beats.clear()

    def _arm(self, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(max(0.0, at - time.monotonic()), self._fire)

    def _fire(self) -> None:
        self._timer, self._timer_at = None, math.inf
        now = time.monotonic()
        earliest = math.inf
        for execution, due in list(self._due.items()):
            if due > now:
                earliest = min(earliest, due)
                continue
            if now >= execution.context.deadline:
                self._due.pop(execution, None)
                # One loop turn later, as a task waking from its own timer would: a
                # handler whose wake-up was due first (e.g. after the process was
                # paused) finishes and reports, and the service judges the report.
                asyncio.get_running_loop().call_soon(
                    execution.lose, "deadline", "the lease ran out before a heartbeat renewed it"
                )
                continue
            self._due[execution] = math.inf
            self._beats[execution] = asyncio.create_task(
                self._beat(execution), name=f"leaseq-heartbeat-{execution.lease.task_id}"
            )
        if earliest < math.inf:
            self._arm(earliest)

    async def _beat(self, execution: Execution) -> None:
        context, lease = execution.context, execution.lease
        sent = time.monotonic()
        try:
            async with asyncio.timeout(max(0.001, context.deadline - sent)):
                await self._transport.heartbeat(lease.task_id, lease.token, self._lease_seconds)
        except errors.TaskCancelled:
            self._telemetry.heartbeat_failures.add(1, {"reason": "task_cancelled"})
            self._stop(execution, "cancelled", "the task was cancelled")
            return
        except (errors.LeaseConflict, errors.TaskNotFound) as refusal:
            self._telemetry.heartbeat_failures.add(1, {"reason": refusal.code})
            self._stop(execution, "lease_lost", f"heartbeat refused: {refusal.code}")
            return
        except (errors.LeaseqClientError, TimeoutError) as failure:
            self._telemetry.heartbeat_failures.add(1, {"reason": "unanswered"})
            context.logger.warning("heartbeat failed, retrying: %r", failure)
            due = min(time.monotonic() + min(self._interval, RETRY_AFTER), context.deadline)
        else:
            context.deadline = sent + self._lease_seconds
            due = sent + self._interval
        finally:
            if self._beats.get(execution) is asyncio.current_task():
                del self._beats[execution]
        if execution in self._due:  # still running
            self._due[execution] = due
            if due < self._timer_at:
                self._arm(due)

    def _stop(self, execution: Execution, reason: str, message: str) -> None:
        self._due.pop(execution, None)
        execution.lose(reason, message)


__all__ = ["HEARTBEAT_FRACTION", "Heartbeats"]
