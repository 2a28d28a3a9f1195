"""W3C trace context carried in task labels: producers inject it, workers continue it."""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()
TRACE_LABELS = ("traceparent", "tracestate")


def with_trace_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """The labels plus the active span's `traceparent`, unless the caller set one."""
    if "traceparent" in labels:
        return dict(labels)
    return {**labels, **trace_labels()}


def trace_labels() -> dict[str, str]:
    """The labels that carry the active span's context (none without an active span)."""
    if not trace.get_current_span().get_span_context().is_valid:
        return {}
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return {k: v for k, v in carrier.items() if k in TRACE_LABELS and v}


def producer_context(labels: Mapping[str, str]) -> Context:
    """The producer's trace context from a task's labels (an empty context when absent)."""
    return _PROPAGATOR.extract(carrier={k: v for k, v in labels.items() if k in TRACE_LABELS})


__all__ = ["producer_context", "trace_labels", "with_trace_labels"]
