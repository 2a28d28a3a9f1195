"""Request accessors of the runtime's other use cases: queue control and schedules."""

from __future__ import annotations

from fastapi import Request

from leaseq.app.queue_control import QueueAdmin
from leaseq.app.runtime import Runtime
from leaseq.app.schedules import ScheduleService


async def queue_admin(request: Request) -> QueueAdmin:
    runtime: Runtime = request.app.state.runtime
    return runtime.queues


async def schedule_service(request: Request) -> ScheduleService:
    runtime: Runtime = request.app.state.runtime
    return runtime.schedules
