"""What the HTTP adapter is configured with, and the per-request accessors of the app state."""

from __future__ import annotations

import math
from datetime import timedelta
from uuid import UUID

from attrs import frozen
from fastapi import Request
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry

from leaseq.app.access import AccessTokens
from leaseq.app.runtime import Runtime
from leaseq.app.services import TaskService
from leaseq.domain import DEFAULT_LIMITS, Limits, TaskNotFound, ValidationError
from leaseq.ports import Clock


@frozen
class HttpOptions:
    access: AccessTokens
    clock: Clock
    limits: Limits = DEFAULT_LIMITS
    max_body_bytes: int = 2 * 1024 * 1024
    max_wait_seconds: float = 20.0
    registry: CollectorRegistry | None = None  # shared with the task-event metrics
    tracer: Tracer | None = None  # None: no request spans
    console_sample_seconds: float = 5.0


async def service(request: Request) -> TaskService:
    runtime: Runtime = request.app.state.runtime
    return runtime.service


async def options(request: Request) -> HttpOptions:
    found: HttpOptions = request.app.state.options
    return found


def task_id(text: str) -> UUID:
    """Path ids: anything that is not a UUID names no task, so it is a 404 like any other."""
    try:
        return UUID(text)
    except ValueError:
        raise TaskNotFound(text) from None


def duration(field: str, seconds: float) -> timedelta:
    """Float seconds → timedelta; the domain then checks the allowed range."""
    if not math.isfinite(seconds) or not 0 <= seconds <= 10**9:
        raise ValidationError(field, "must be a number of seconds from 0 to 1e9")
    return timedelta(seconds=seconds)
