"""The metrics docs/operations.md lists are exactly those `GET /metrics` exposes (and
docs/api.md names no other)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from leaseq.app.container import build_container
from tests.contract.http_fixtures import running_app, settings_for, store_url

pytestmark = pytest.mark.postgres  # the pool gauge exists only on PostgreSQL

ROOT = Path(__file__).resolve().parents[2]


def documented_metrics() -> set[str]:
    text = (ROOT / "docs" / "operations.md").read_text()
    return set(re.findall(r"^\| `(leaseq_[a-z_]+)` \|", text, re.MULTILINE))


def exposed_metrics(exposition: str) -> set[str]:
    """Family names as users query them (a counter with its `_total`), without the
    `_created` timestamps the client library adds beside each counter and histogram."""
    families = list(text_string_to_metric_families(exposition))
    created = {f"{f.name}_created" for f in families if f.type in ("counter", "histogram")}
    return {
        f"{family.name}_total" if family.type == "counter" else family.name
        for family in families
        if family.name.startswith("leaseq_") and family.name not in created
    }


@pytest.mark.parametrize("backend", ["postgres"], indirect=False)
async def test_the_documented_metrics_are_exactly_the_exposed_ones(
    request: pytest.FixtureRequest, backend: str
) -> None:
    request.param = backend  # store_url reads the backend from request.param
    async with (
        store_url(request) as url,
        running_app(build_container(settings_for(backend, url))) as (_, http),
    ):
        await _exercise(http)
        exposition = (await http.get("/metrics")).text
    assert exposed_metrics(exposition) == documented_metrics()
    named_in_api_md = set(re.findall(r"leaseq_[a-z_]+", (ROOT / "docs" / "api.md").read_text()))
    assert named_in_api_md <= documented_metrics()


async def _exercise(http: httpx.AsyncClient) -> None:
    """One task's life and one refusal, so that every family has a sample."""
    await http.post("/v1/tasks", json={"tasks": [{"queue": "q", "type": "t"}]})
    (lease,) = (await http.post("/v1/leases", json={"queue": "q", "worker_id": "w"})).json()[
        "leases"
    ]
    await http.post(f"/v1/tasks/{lease['task_id']}/complete", json={"token": lease["token"]})
    await http.post(f"/v1/tasks/{lease['task_id']}/complete", json={"token": lease["token"]})
