"""The worker's traces and metrics, through the OpenTelemetry API only.

The caller configures the SDK (providers, exporters); with none configured every
instrument is a no-op. Providers may be passed explicitly, which tests do.
"""

from __future__ import annotations

from opentelemetry import metrics, trace

from leaseq.sdk.types import LeaseInfo

INSTRUMENTATION = "leaseq.sdk"


class WorkerTelemetry:
    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self.tracer = trace.get_tracer(INSTRUMENTATION, tracer_provider=tracer_provider)
        meter = metrics.get_meter(INSTRUMENTATION, meter_provider=meter_provider)
        self.started = meter.create_counter(
            "leaseq.worker.tasks.started", unit="{task}", description="Handler executions begun"
        )
        self.succeeded = meter.create_counter(
            "leaseq.worker.tasks.succeeded", unit="{task}", description="Results accepted"
        )
        self.retried = meter.create_counter(
            "leaseq.worker.tasks.retried", unit="{task}", description="Retries accepted"
        )
        self.dead_lettered = meter.create_counter(
            "leaseq.worker.tasks.dead_lettered",
            unit="{task}",
            description="Tasks sent to the dead-letter list by this worker's report",
        )
        self.abandoned = meter.create_counter(
            "leaseq.worker.tasks.abandoned",
            unit="{task}",
            description="Handlers stopped without a report (lease lost, cancelled, shutdown)",
        )
        self.refused = meter.create_counter(
            "leaseq.worker.results.refused", unit="{task}", description="Reports the queue refused"
        )
        self.duration = meter.create_histogram(
            "leaseq.worker.handler.duration", unit="s", description="Handler run time"
        )
        self.heartbeat_failures = meter.create_counter(
            "leaseq.worker.heartbeat.failures",
            unit="{heartbeat}",
            description="Heartbeats refused or unanswered",
        )

    @staticmethod
    def attributes(lease: LeaseInfo) -> dict[str, str | int]:
        return {"queue": lease.queue, "type": lease.type, "type_version": lease.type_version}


__all__ = ["WorkerTelemetry"]
