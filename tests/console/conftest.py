"""Console fixtures: the real app in-process (httpx ASGI) and helpers to make tasks."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from leaseq.app.container import build_container
from tests.contract.http_fixtures import ADMIN, running_app, settings_for

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    """An app with tokens configured; the client sends the admin bearer token to /v1."""
    async with running_app(build_container(settings_for("memory", None))) as (_app, client):
        yield client


async def sign_in(client: httpx.AsyncClient, token: str = "admin-secret") -> httpx.Response:
    return await client.post("/console/sign-in", data={"token": token, "next": "/console/tasks"})


async def csrf_of(client: httpx.AsyncClient, path: str = "/console/queues") -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found is not None
    return found.group(1)


async def enqueue(client: httpx.AsyncClient, **fields: Any) -> str:
    task = {"queue": "console", "type": "t", **fields}
    answer = await client.post("/v1/tasks", json={"tasks": [task]}, headers=ADMIN)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["tasks"][0]["id"])


async def dead_task(client: httpx.AsyncClient, error: str = "boom", **fields: Any) -> str:
    """A task that failed fatally: enqueued, leased, failed."""
    task_id = await enqueue(client, queue="dying", **fields)
    leases = await client.post(
        "/v1/leases", json={"queue": "dying", "worker_id": "w-1"}, headers=ADMIN
    )
    (lease,) = leases.json()["leases"]
    assert lease["task_id"] == task_id
    failed = await client.post(
        f"/v1/tasks/{task_id}/fail", json={"token": lease["token"], "error": error}, headers=ADMIN
    )
    assert failed.json()["state"] == "dead"
    return task_id
