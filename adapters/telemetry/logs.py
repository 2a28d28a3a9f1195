"""Task events as log records, and the two log formats of the service (JSON and console).

One record per transition on the `leaseq.tasks` logger, with the task's fields as record
attributes; payloads only when asked for (they may hold personal data). By default every
transition is logged (guarantee 5); at thousands of tasks a second the routine lines cost
real CPU, so `notable` leaves out the ones every task passes through (ADR 0012).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from leaseq.domain import DomainError, Enqueued, ReportedTask, Task, TaskState, Transition
from leaseq.ports import QueueStats

TASKS_LOGGER = "leaseq.tasks"

# Every task passes through these; the others are what an operator looks for in logs.
ROUTINE = frozenset(
    {Transition.ENQUEUED, Transition.LEASED, Transition.COMPLETED, Transition.RELEASED}
)
TRANSITION_LOGGING = ("all", "notable", "none")


# Record attributes that are not fields of the line: the standard ones, and uvicorn's
# `color_message` (its message with ANSI colour codes, for its own formatter).
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "color_message",
}


class LoggingTaskEvents:
    """Implements the TaskEvents port with standard-library logging."""

    def __init__(
        self,
        logger: logging.Logger | None = None,
        *,
        payloads: bool = False,
        transitions: str = "all",
    ) -> None:
        if transitions not in TRANSITION_LOGGING:
            raise ValueError(
                f"LEASEQ_LOG_TRANSITIONS must be one of {', '.join(TRANSITION_LOGGING)},"
                f" not {transitions!r}"
            )
        self._log = logger or logging.getLogger(TASKS_LOGGER)
        self._payloads = payloads
        self._skipped = {
            "notable": ROUTINE,
            "all": frozenset(),
            "none": frozenset(Transition),
        }[transitions]

    def transitioned(self, task: Task | ReportedTask, transition: Transition) -> None:
        if transition in self._skipped or not self._log.isEnabledFor(logging.INFO):
            return
        # A report's outcome comes as a ReportedTask: its lease has ended, and the service
        # reads whole tasks (with their payloads) when payloads are logged (ADR 0037).
        lease = task.lease if isinstance(task, Task) else None
        fields: dict[str, Any] = {
            "task_id": str(task.id),
            "queue": task.queue,
            "type": task.type,
            "transition": transition.value,
            "state": task.state.value,
            "attempt": task.attempts,
            "epoch": task.epoch,
            "worker": lease.owner if lease is not None and task.state is TaskState.LEASED else None,
        }
        if task.last_error is not None and transition is not Transition.COMPLETED:
            fields["error"] = task.last_error
        if self._payloads and isinstance(task, Task):
            fields["payload"] = task.payload
        # The record is built here rather than by `Logger.info`: that would walk the stack
        # for a caller nobody prints and check each field for a clash, per transition.
        record = self._log.makeRecord(
            self._log.name, logging.INFO, __file__, 0, "task %s", (transition.value,), None
        )
        record.__dict__.update(fields)
        self._log.handle(record)

    def enqueued(self, answers: Sequence[Enqueued]) -> None:
        if Transition.ENQUEUED in self._skipped or not self._log.isEnabledFor(logging.INFO):
            return  # without reading `task`, which would build each new one
        for answer in answers:
            if not answer.deduplicated:
                self.transitioned(answer.task, Transition.ENQUEUED)

    def refused(self, call: str, task_id: object, error: DomainError) -> None:
        if self._log.isEnabledFor(logging.INFO):
            fields = {"task_id": str(task_id), "call": call, "code": error.code}
            self._log.info("%s refused: %s", call, error.code, extra=fields)

    def swept(self, expired: int) -> None:
        self._log.info("expiry sweep: %d leases ran out", expired, extra={"expired": expired})

    def queue_stats(self, stats: Sequence[QueueStats]) -> None:
        return None


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, and every extra field."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                body[key] = value
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """`time level logger: message key=value …` for people at a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._second = -1
        self._stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        # strftime once a second, not once a line: a busy service logs thousands a second
        second = int(record.created)
        if second != self._second:
            self._second, self._stamp = second, super().formatTime(record, datefmt)[:-4]
        return f"{self._stamp},{int(record.msecs):03d}"

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = [
            f"{key}={value}"
            for key, value in record.__dict__.items()
            if value is not None and key not in _STANDARD and key[0] != "_"
        ]
        return f"{line} {' '.join(extras)}" if extras else line


def configure_logging(format: str = "console", level: int = logging.INFO) -> None:
    """Install one stderr handler on the root logger in the chosen format."""
    if format not in ("console", "json"):
        raise ValueError(f"LEASEQ_LOG_FORMAT must be console or json, not {format!r}")
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if format == "json" else ConsoleFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
