"""The real service (the composition root's FastAPI app) served by uvicorn on a free
loopback port, over a given in-memory store, so HTTP tests can also reach into the store."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

from dependency_injector import providers

from leaseq.adapters.memory import InMemoryTaskStore
from leaseq.app.container import build_container
from leaseq.app.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def serve_http(store: InMemoryTaskStore, tokens: str | None = None) -> AsyncIterator[str]:
    import uvicorn

    container = build_container(
        Settings(
            memory=True,
            tokens=tokens,
            max_wait_seconds=2.0,
            ready_check_interval_seconds=0.2,
            expiry_interval_seconds=0.2,
        )
    )
    container.memory_store.override(providers.Object(store))
    container.memory_notifier.override(providers.Object(store._notifier))
    port = free_port()
    config = uvicorn.Config(
        container.http_app(), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
