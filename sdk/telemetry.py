"""The worker's traces and metrics, through the OpenTelemetry API only.

The caller configures the SDK (providers, exporters); with none configured every
instrument is a no-op. Providers may be passed explicitly, which tests do.
"""

from __future__ import annotations

import math
import time

from opentelemetry import metrics, trace

from leaseq.sdk.types import LeaseInfo

Attributes = dict[str, str | int]

INSTRUMENTATION = "leaseq.sdk"
RECHECK_SECONDS = 1.0  # how often a no-op tracer is looked at again


class WorkerTelemetry:
    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self.tracer = trace.get_tracer(INSTRUMENTATION, tracer_provider=tracer_provider)
        self._tracing = False  # once a real tracer is seen it stays (providers are set once)
        self._checked_until = -math.inf
        # Metric attributes per (queue, type, version) and per status: built once, shared
        # (the instruments only read them).
        self._attributes: dict[tuple[str, str, int], Attributes] = {}
        self._with: dict[tuple[str, str, int, str, str], Attributes] = {}
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

    def attributes(self, lease: LeaseInfo) -> Attributes:
        """The metric attributes of a task (one shared dict per kind: do not modify)."""
        key = (lease.queue, lease.type, lease.type_version)
        found = self._attributes.get(key)
        if found is None:
            found = self._attributes[key] = {
                "queue": lease.queue,
                "type": lease.type,
                "type_version": lease.type_version,
            }
        return found

    def attributes_with(self, lease: LeaseInfo, name: str, value: str) -> Attributes:
        """The task's attributes plus one more (e.g. status), shared like `attributes`."""
        key = (lease.queue, lease.type, lease.type_version, name, value)
        found = self._with.get(key)
        if found is None:
            if len(self._with) > 4096:  # values are codes, but stay bounded regardless
                self._with.clear()
            found = self._with[key] = {**self.attributes(lease), name: value}
        return found

    @property
    def tracing(self) -> bool:
        """Whether spans are recorded: false while the tracer is OpenTelemetry's no-op
        (no provider given and none set globally), so the worker can skip building them.
        A provider set globally later is noticed within a second."""
        if self._tracing:
            return True
        now = time.monotonic()
        if now < self._checked_until:
            return False
        self._checked_until = now + RECHECK_SECONDS
        tracer = self.tracer
        if isinstance(tracer, trace.NoOpTracer):
            return False
        if isinstance(tracer, trace.ProxyTracer) and isinstance(
            trace.get_tracer_provider(), trace.ProxyTracerProvider | trace.NoOpTracerProvider
        ):
            return False
        self._tracing = True
        return True


__all__ = ["WorkerTelemetry"]
