"""Observability adapters: Prometheus metrics and structured logs of task events, and the
tracing wrapper of the task store."""

from leaseq.adapters.telemetry.logs import LoggingTaskEvents, configure_logging
from leaseq.adapters.telemetry.prometheus import PrometheusTaskEvents
from leaseq.adapters.telemetry.traced_store import TracedTaskStore

__all__ = ["LoggingTaskEvents", "PrometheusTaskEvents", "TracedTaskStore", "configure_logging"]
