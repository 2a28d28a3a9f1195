"""Service settings, read from `LEASEQ_*` environment variables (pydantic-settings)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from leaseq.domain import DEFAULT_LIMITS, Limits

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class Settings(BaseSettings):
    """Everything the composition root needs; each field is `LEASEQ_<NAME>` in the env."""

    model_config = SettingsConfigDict(env_prefix="LEASEQ_", extra="ignore")

    database_url: str | None = None
    memory: bool = False
    data_dir: Path = Path(".leaseq")
    host: str = "127.0.0.1"
    port: int = 8000

    # "secret1:produce,work;secret2:admin", and/or a file with one "secret:scopes" a line
    tokens: str | None = None
    tokens_file: Path | None = None

    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    # The request schemas (OpenAPI) show the defaults: a setting may only lower them.
    max_batch: int = Field(default=DEFAULT_LIMITS.max_batch, ge=1, le=DEFAULT_LIMITS.max_batch)
    max_lease_seconds: float = Field(
        default=DEFAULT_LIMITS.max_lease.total_seconds(),
        ge=DEFAULT_LIMITS.min_lease.total_seconds(),
        le=DEFAULT_LIMITS.max_lease.total_seconds(),
    )
    max_wait_seconds: float = Field(default=20.0, ge=0.0, le=60.0)

    # Read deadlines of the server `leaseq serve` runs (ADR 0018): a request's headers must
    # arrive within header_timeout of the connection (or of its first byte), its body within
    # body_timeout of its headers; idle kept-alive connections close after keep_alive.
    header_timeout_seconds: float = Field(default=10.0, gt=0.0, le=30.0)
    body_timeout_seconds: float = Field(default=30.0, gt=0.0, le=600.0)
    keep_alive_timeout_seconds: int = Field(default=5, ge=1, le=300)
    ready_check_interval_seconds: float = 1.0

    expiry_interval_seconds: float = 1.0
    expiry_batch: int = 500
    prune_interval_seconds: float = 60.0
    prune_batch: int = 1000
    retention_seconds: float = 7 * 24 * 3600.0
    stats_interval_seconds: float = 5.0  # how often the queue gauges are refreshed
    schedule_interval_seconds: float = 1.0  # how often due schedules are fired
    # how often the store's planner statistics are looked at (ADR 0034); 0: never
    planner_interval_seconds: float = Field(default=2.0, ge=0.0)

    log_format: str = "console"  # or "json": one object a line
    log_payloads: bool = False  # task payloads in transition logs (may be personal data)
    # which transitions get a log line: "all" (guarantee 5), "notable" (not the routine
    # enqueued/leased/completed/released), or "none" (ADR 0012)
    log_transitions: Literal["all", "notable", "none"] = "all"
    # OTLP/HTTP collector base URL (the `otlp` extra); OTEL_EXPORTER_OTLP_ENDPOINT works too
    otlp_endpoint: str | None = None

    # distinct queue and type label values in the task metrics; the rest count as "_other"
    metrics_max_queues: int = Field(default=100, ge=1)
    metrics_max_types: int = Field(default=100, ge=1)

    # how often the console samples queue counts for its throughput sparkline (and polls)
    console_sample_seconds: float = 5.0

    @property
    def backend(self) -> str:
        """Which task store the container selects: `memory` or `postgres`."""
        return "memory" if self.memory else "postgres"

    @property
    def is_loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS or self.host.startswith("127.")

    def limits(self) -> Limits:
        return Limits(max_batch=self.max_batch, max_lease=timedelta(seconds=self.max_lease_seconds))
