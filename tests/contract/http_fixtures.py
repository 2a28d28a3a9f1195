"""Builds the HTTP app on each task store, served in-process through httpx's ASGI transport."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from leaseq.app.container import Container
from leaseq.app.settings import Settings

TOKENS = "prod-secret:produce;work-secret:work;admin-secret:admin"
ADMIN = {"Authorization": "Bearer admin-secret"}


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
            transport=transport, base_url="http://leaseq.test", headers=ADMIN
        ) as client:
            yield app, client


async def migrated(url: str) -> str:
    from leaseq.adapters.postgres import migrate

    await migrate(url)
    return url
