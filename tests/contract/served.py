"""The app served by uvicorn on a free loopback port with the configuration `leaseq serve`
runs (adapters/http/server.py), in this process: for tests whose point is the socket."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import uvicorn
from fastapi import FastAPI

from leaseq.adapters.http.server import server_config
from leaseq.app.container import Container


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def served(
    container: Container, *, header_timeout: float = 10.0, body_timeout: float = 30.0
) -> AsyncIterator[tuple[FastAPI, str, uvicorn.Server]]:
    """(app, base URL, server) of `container`'s app, served until the block ends."""
    app = container.http_app()
    port = free_port()
    config = server_config(
        app,
        host="127.0.0.1",
        port=port,
        header_timeout=header_timeout,
        body_timeout=body_timeout,
        access_log=False,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield app, f"http://127.0.0.1:{port}", server
    finally:
        server.should_exit = True
        await task
