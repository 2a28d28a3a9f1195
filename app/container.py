"""The composition root: the one place that picks concrete adapters and wires them.

`providers.Selector` chooses the memory or PostgreSQL store from the settings; tests swap
any provider with `container.<name>.override(...)`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from dependency_injector import containers, providers
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry

from leaseq.adapters.cron import CronsimCalendar
from leaseq.adapters.http import HttpOptions, create_app
from leaseq.adapters.memory import InMemoryNotifier, InMemoryTaskStore
from leaseq.adapters.system import RandomJitter, SecretTokenGenerator, SystemClock, Uuid7Generator
from leaseq.adapters.telemetry import LoggingTaskEvents, PrometheusTaskEvents
from leaseq.adapters.telemetry.traced_producer import TracedServiceStore
from leaseq.app.access import AccessConfigError, AccessTokens, load_access_tokens
from leaseq.app.maintenance import MaintenancePlan
from leaseq.app.observers import TaskEventsFanOut
from leaseq.app.runtime import Runtime, store_answers
from leaseq.app.services import LongPoll
from leaseq.app.settings import Settings
from leaseq.domain import Limits
from leaseq.ports import (
    Clock,
    IdGenerator,
    Notifier,
    SchemaOutOfDate,
    ServiceStore,
    TaskStore,
    TokenGenerator,
)

log = logging.getLogger(__name__)


def _memory_opener(store: InMemoryTaskStore) -> Callable[[], Awaitable[ServiceStore]]:
    async def open_store() -> ServiceStore:
        return store

    return open_store


def _postgres_opener(
    url: str, limits: Limits, ids: IdGenerator, tokens: TokenGenerator
) -> Callable[[], Awaitable[ServiceStore]]:
    async def open_store() -> ServiceStore:
        from leaseq.adapters.postgres import open_postgres_store

        store: ServiceStore = await open_postgres_store(url, limits=limits, ids=ids, tokens=tokens)
        return store

    return open_store


def _observed_opener(
    open_store: Callable[[], Awaitable[ServiceStore]],
    tracer: Tracer | None,
    metrics: PrometheusTaskEvents,
) -> Callable[[], Awaitable[ServiceStore]]:
    """Opens the store, watches its connection pool, and traces it when tracing is on."""

    async def open_observed() -> ServiceStore:
        store = await open_store()
        pool_status: Any = getattr(store, "pool_status", None)
        if pool_status is not None:
            metrics.watch_pool(pool_status)
        return store if tracer is None else TracedServiceStore(store, tracer)

    return open_observed


def otlp_endpoint(settings: Settings) -> str | None:
    return settings.otlp_endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None


def _tracer_provider(settings: Settings) -> TracerProvider | None:
    """The OpenTelemetry SDK, configured here only: spans batch-exported over OTLP/HTTP
    (off the request path) when an endpoint is set; no provider, no spans, otherwise."""
    endpoint = otlp_endpoint(settings)
    if endpoint is None:
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as error:
        raise RuntimeError(
            "an OTLP endpoint is set but the exporter is missing: pip install 'leaseq[otlp]'"
        ) from error
    traces = endpoint if endpoint.endswith("/v1/traces") else endpoint.rstrip("/") + "/v1/traces"
    provider = TracerProvider(resource=Resource.create({"service.name": "leaseq"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces)))
    return provider


def _tracer(provider: TracerProvider | None) -> Tracer | None:
    return None if provider is None else provider.get_tracer("leaseq")


def _postgres_notifier(url: str) -> Notifier:
    from leaseq.adapters.postgres import PostgresNotifier

    notifier: Notifier = PostgresNotifier(url)
    return notifier


def _postgres_readiness(url: str) -> Callable[[TaskStore], Awaitable[None]]:
    async def ready(store: TaskStore) -> None:
        from leaseq.adapters.postgres import schema_status

        current, expected = await schema_status(url)
        if current != expected:
            raise SchemaOutOfDate(
                f"database schema is {current or 'empty'}, this service needs {expected}; "
                "run `leaseq migrate`"
            )
        await store_answers(store)

    return ready


def secured_access(settings: Settings) -> AccessTokens:
    """Auth is on unless no token is configured AND the bind is loopback (development)."""
    access = load_access_tokens(settings.tokens, settings.tokens_file)
    if access.enabled:
        return access
    if not settings.is_loopback:
        raise AccessConfigError(
            f"refusing to serve on {settings.host} without authentication: set LEASEQ_TOKENS "
            "(e.g. 'secret:admin') or LEASEQ_TOKENS_FILE, or bind to 127.0.0.1"
        )
    log.warning(
        "AUTHENTICATION IS OFF: no tokens configured (LEASEQ_TOKENS); anyone who can reach "
        "%s:%s may enqueue, lease and administer tasks",
        settings.host,
        settings.port,
    )
    return access


def _plan(settings: Settings) -> MaintenancePlan:
    return MaintenancePlan(
        expiry_interval=settings.expiry_interval_seconds,
        expiry_batch=settings.expiry_batch,
        prune_interval=settings.prune_interval_seconds,
        prune_batch=settings.prune_batch,
        retention=timedelta(seconds=settings.retention_seconds),
        stats_interval=settings.stats_interval_seconds,
        schedule_interval=settings.schedule_interval_seconds,
        planner_interval=settings.planner_interval_seconds,
    )


def _long_poll(settings: Settings) -> LongPoll:
    return LongPoll(
        max_wait=settings.max_wait_seconds, fallback_poll=settings.ready_check_interval_seconds
    )


def _database_url(settings: Settings) -> str:
    if not settings.database_url:
        raise ValueError(
            "no database URL: pass --database-url, set LEASEQ_DATABASE_URL or --memory"
        )
    return settings.database_url


class Container(containers.DeclarativeContainer):
    settings = providers.Singleton(Settings)
    backend = providers.Callable(lambda s: s.backend, settings)

    clock: providers.Provider[Clock] = providers.Singleton(SystemClock)
    ids: providers.Provider[IdGenerator] = providers.Singleton(Uuid7Generator)
    tokens: providers.Provider[TokenGenerator] = providers.Singleton(SecretTokenGenerator)
    jitter = providers.Singleton(RandomJitter)
    calendar = providers.Singleton(CronsimCalendar)
    limits = providers.Callable(lambda s: s.limits(), settings)
    database_url = providers.Callable(_database_url, settings)

    memory_notifier = providers.Singleton(InMemoryNotifier)
    memory_store = providers.Singleton(
        InMemoryTaskStore,
        clock=clock,
        ids=ids,
        tokens=tokens,
        notifier=memory_notifier,
        limits=limits,
    )

    notifier = providers.Selector(
        backend,
        memory=memory_notifier,
        postgres=providers.Singleton(_postgres_notifier, database_url),
    )
    tracer_provider = providers.Singleton(_tracer_provider, settings)
    tracer = providers.Callable(_tracer, tracer_provider)
    registry = providers.Singleton(CollectorRegistry)
    metric_events = providers.Singleton(
        lambda registry, s: PrometheusTaskEvents(
            registry, max_queues=s.metrics_max_queues, max_types=s.metrics_max_types
        ),
        registry,
        settings,
    )
    log_events = providers.Singleton(
        lambda s: LoggingTaskEvents(payloads=s.log_payloads, transitions=s.log_transitions),
        settings,
    )
    events = providers.Singleton(TaskEventsFanOut, providers.List(metric_events, log_events))

    store_opener = providers.Selector(
        backend,
        memory=providers.Callable(_memory_opener, memory_store),
        postgres=providers.Callable(_postgres_opener, database_url, limits, ids, tokens),
    )
    open_store = providers.Callable(_observed_opener, store_opener, tracer, metric_events)
    readiness = providers.Selector(
        backend,
        memory=providers.Object(store_answers),
        postgres=providers.Callable(_postgres_readiness, database_url),
    )

    runtime = providers.Singleton(
        Runtime,
        open_store=open_store,
        notifier=notifier,
        jitter=jitter,
        long_poll=providers.Callable(_long_poll, settings),
        maintenance=providers.Callable(_plan, settings),
        readiness=readiness,
        events=events,
        calendar=calendar,
        # logged payloads of report transitions need whole tasks (ADR 0037)
        whole_reports=settings.provided.log_payloads,
    )
    access = providers.Singleton(secured_access, settings)
    http_options = providers.Singleton(
        lambda s, access, clock, limits, registry, tracer: HttpOptions(
            access=access,
            clock=clock,
            limits=limits,
            max_body_bytes=s.max_body_bytes,
            max_wait_seconds=s.max_wait_seconds,
            registry=registry,
            tracer=tracer,
            console_sample_seconds=s.console_sample_seconds,
        ),
        settings,
        access,
        clock,
        limits,
        registry,
        tracer,
    )
    http_app = providers.Singleton(create_app, runtime=runtime, options=http_options)


def build_container(settings: Settings) -> Container:
    container = Container()
    container.settings.override(providers.Object(settings))
    return container
