"""A real uvicorn server on a free loopback port, around a given TaskService.

Available once the service branch's FastAPI application is merged; until then only the
in-process transport is exercised.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import socket
from collections.abc import AsyncIterator
from typing import Any

from leaseq.app.services import TaskService


def http_transports() -> list[str]:
    try:
        found = importlib.util.find_spec("leaseq.adapters.http.app") is not None
    except ModuleNotFoundError:
        found = False
    return ["http"] if found else []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_app(service: TaskService) -> Any:
    from leaseq.adapters.http.app import create_app  # type: ignore[import-not-found]

    return create_app(service)


@contextlib.asynccontextmanager
async def serve_http(service: TaskService) -> AsyncIterator[str]:
    import uvicorn

    port = free_port()
    config = uvicorn.Config(build_app(service), host="127.0.0.1", port=port, log_level="warning")
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
