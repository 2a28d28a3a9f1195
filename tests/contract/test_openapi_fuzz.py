"""Schemathesis against the running service (uvicorn on a loopback socket, configured as
`leaseq serve` runs it), from the app's own OpenAPI document, in valid and invalid
requests: no 5xx, and no answer outside the documented schema. Twice: in development
mode (no tokens, memory store) and with tokens (the admin token, PostgreSQL)."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from leaseq.adapters.http.server import server_config
from leaseq.app.container import build_container
from tests.conftest import create_database, database_url, drop_database, run
from tests.contract.http_fixtures import ADMIN, settings_for
from tests.contract.served import free_port

schema = schemathesis.openapi.from_dict(
    build_container(settings_for("memory", None)).http_app().openapi()
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Modest: the whole module stays under a minute on the shared machine.
FUZZ = settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
LONGEST_WAIT = 1.0  # seconds a generated long poll may wait (the client reads for 10)


def short_waits(case: schemathesis.Case) -> schemathesis.Case:
    """Cap a valid `wait_seconds` (lease body or task query) at a second: an empty queue
    rightly holds a 30- or 60-second long poll open, which is not what the fuzzing checks
    and would outlast the client's read timeout. Invalid values stay as generated."""
    for holder in (case.body, case.query):
        if isinstance(holder, dict):
            wait = holder.get("wait_seconds")
            if type(wait) in (int, float) and wait > LONGEST_WAIT:
                holder["wait_seconds"] = LONGEST_WAIT
    return case


@contextlib.contextmanager
def serving(**overrides: object) -> Iterator[str]:
    """The service on a free loopback port, in a thread of its own (its own event loop)."""
    container = build_container(settings_for(**overrides))  # type: ignore[arg-type]
    port = free_port()
    config = server_config(
        container.http_app(),
        host="127.0.0.1",
        port=port,
        header_timeout=5,
        body_timeout=5,
        access_log=False,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="fuzzed-service", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the service did not start"
        time.sleep(0.01)  # another thread starts it: nothing to await here
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture(scope="module")
def development_service() -> Iterator[str]:
    with serving(backend="memory", database_url=None, tokens=None) as url:
        yield url


@pytest.fixture(scope="module")
def token_service(pg_admin_url: str) -> Iterator[str]:
    from leaseq.adapters.postgres import migrate

    name = f"leaseq_fuzz{os.getpid()}"
    run(create_database(pg_admin_url, name))
    try:
        url = database_url(pg_admin_url, name)
        run(migrate(url))
        with serving(backend="postgres", database_url=url) as base:
            yield base
    finally:
        run(drop_database(pg_admin_url, name))


@pytest.mark.timeout(120)
@schema.parametrize()
@FUZZ
def test_in_development_mode_every_answer_is_inside_the_schema_and_never_5xx(
    case: schemathesis.Case, development_service: str
) -> None:
    short_waits(case).call_and_validate(base_url=development_service, checks=CHECKS)


@pytest.mark.postgres
@pytest.mark.timeout(120)
@schema.parametrize()
@FUZZ
def test_with_tokens_every_answer_is_inside_the_schema_and_never_5xx(
    case: schemathesis.Case, token_service: str
) -> None:
    short_waits(case).call_and_validate(base_url=token_service, headers=ADMIN, checks=CHECKS)
