"""The test-database chain: an explicit URL, else testcontainers, else an embedded server.

1. `LEASEQ_TEST_DATABASE_URL` (any PostgreSQL the tests may create databases on);
2. testcontainers' PostgreSQL, when a Docker daemon answers;
3. an embedded PostgreSQL from the `pgserver` package in a temporary directory.

Every option yields a libpq-style admin URL (`postgresql://user@host:port/db` or a
unix-socket URL with `?host=/dir`); tests then get databases of their own on it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator

log = logging.getLogger(__name__)

ENV_URL = "LEASEQ_TEST_DATABASE_URL"


@contextlib.contextmanager
def test_postgres() -> Iterator[tuple[str, str]]:
    """Yields (admin URL, where it came from) for the whole test session."""
    url = os.environ.get(ENV_URL)
    if url:
        yield url, f"{ENV_URL}"
        return
    if _docker_answers():
        with _container() as url:
            yield url, "testcontainers"
        return
    with _embedded() as url:
        yield url, "pgserver (embedded)"


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception as exc:  # no client library, no socket, no engine: all mean "no"
        log.info("no Docker daemon (%s); using the embedded PostgreSQL", exc)
        return False


@contextlib.contextmanager
def _container() -> Iterator[str]:
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:16-alpine", driver=None) as pg:
        yield pg.get_connection_url()


@contextlib.contextmanager
def _embedded() -> Iterator[str]:
    import pgserver

    with tempfile.TemporaryDirectory(prefix="leaseq-test-pg-") as data:
        server = pgserver.get_server(data, cleanup_mode="stop")
        try:
            yield server.get_uri().replace("postgres:@", "postgres@")
        finally:
            server.cleanup()
