"""Builds the HTTP app on each task store, served in-process through httpx's ASGI transport."""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from leaseq.app.container import Container
from leaseq.app.settings import Settings
from tests.conftest import create_database, database_url, drop_database

TOKENS = "prod-secret:produce;work-secret:work;admin-secret:admin"
ADMIN = {"Authorization": "Bearer admin-secret"}
# A loopback host: with no tokens (development mode) the service answers only those.
BASE_URL = "http://localhost:8000"


def settings_for(backend: str, database_url: str | None, **overrides: object) -> Settings:
    return Settings(
        memory=backend == "memory",
        database_url=database_url,
        tokens=overrides.pop("tokens", TOKENS),
        expiry_interval_seconds=overrides.pop("expiry_interval_seconds", 0.05),
        **overrides,  # type: ignore[arg-type]
    )


@contextlib.asynccontextmanager
async def running_app(container: Container) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = container.http_app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url=BASE_URL, headers=ADMIN
        ) as client:
            yield app, client


_numbers = itertools.count(1)


@contextlib.asynccontextmanager
async def store_url(request: pytest.FixtureRequest) -> AsyncIterator[str | None]:
    """None for the memory store; a fresh migrated database for the PostgreSQL store.

    (An async fixture cannot request the async `pg_database_url` lazily, so the database
    is made here with the same helpers, on the session's `pg_admin_url`.)
    """
    if request.param != "postgres":
        yield None
        return
    from leaseq.adapters.postgres import migrate

    admin = request.getfixturevalue("pg_admin_url")
    name = f"leaseq_http{os.getpid()}_{next(_numbers)}"
    await create_database(admin, name)
    try:
        url = database_url(admin, name)
        await migrate(url)
        yield url
    finally:
        await drop_database(admin, name)
