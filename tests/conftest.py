"""Session-wide fixtures: one PostgreSQL server for the run, a fresh database per test."""

from __future__ import annotations

import asyncio
import itertools
import os
import urllib.parse
import warnings
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from hypothesis import HealthCheck, settings

from tests.postgres_databases import MigratedDatabases
from tests.postgres_server import test_postgres

_database_numbers = itertools.count(1)

# Hypothesis profiles: modest by default (the machine is shared).
settings.register_profile("default", max_examples=50, deadline=None)
settings.register_profile("ci", max_examples=50, deadline=None, print_blob=True)
settings.register_profile(
    "thorough",
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """A PostgreSQL server URL on which tests may create and drop databases."""
    with test_postgres() as (url, source):
        os.environ.setdefault("LEASEQ_TEST_DATABASE_SOURCE", source)
        yield url


def database_url(admin_url: str, name: str) -> str:
    """The same server and credentials, another database."""
    parts = urllib.parse.urlsplit(admin_url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


async def create_database(
    admin_url: str, name: str, template: str = "template0", options: str = ""
) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" {options}')
    finally:
        await conn.close()


# The migrated databases sort text as production databases usually do, not by code point
# (the C locale): a statement whose order depends on the collation shows in the contract
# suite (tests/contract/test_store_text_order.py). Tried in turn: glibc's locale (the OS
# must have had it when the server started; .ci/run makes it), then ICU's (PostgreSQL
# built with ICU, as Debian's is; the embedded server is not).
CONTRACT_LOCALES = ("LOCALE 'en_US.UTF-8'", "LOCALE_PROVIDER icu ICU_LOCALE 'en-US'")


async def create_contract_template(admin_url: str, name: str) -> None:
    """An empty database in one of CONTRACT_LOCALES; in the server's default locale if it
    has none (a developer's machine), never under CI, where that would hide what it is for."""
    refusals = []
    for options in CONTRACT_LOCALES:
        try:
            await create_database(admin_url, name, options=options)
            return
        except asyncpg.PostgresError as error:  # an unknown locale, no ICU: per version
            refusals.append(f"{options}: {error}")
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        raise RuntimeError(
            "the test databases need an en_US collation; make the OS locale with "
            f"`localedef -i en_US -f UTF-8 en_US.UTF-8`, then restart the server ({refusals})"
        )
    warnings.warn(
        f"no en_US collation ({refusals}): the test databases sort text by code point",
        stacklevel=2,
    )
    await create_database(admin_url, name)


async def drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def pg_database_url(pg_admin_url: str) -> AsyncIterator[str]:
    """A fresh, empty database of its own for one test; dropped afterwards."""
    name = f"leaseq_t{os.getpid()}_{next(_database_numbers)}"
    await create_database(pg_admin_url, name)
    try:
        yield database_url(pg_admin_url, name)
    finally:
        await drop_database(pg_admin_url, name)


def run(coro):  # type: ignore[no-untyped-def]
    """Run a coroutine from synchronous test code (state machines, subprocess helpers)."""
    return asyncio.run(coro)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that touches PostgreSQL, so CI can rerun them on another server."""
    for item in items:
        uses_fixture = "pg_admin_url" in getattr(item, "fixturenames", ())
        callspec = getattr(item, "callspec", None)
        uses_param = callspec is not None and "postgres" in callspec.id
        if uses_fixture or uses_param:
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def pg_databases(pg_admin_url: str) -> Iterator[MigratedDatabases]:
    """Makes migrated databases on demand (from any event loop); drops them at the end."""
    from leaseq.adapters.postgres import migrate

    template = f"leaseq_template_{os.getpid()}"

    async def prepare() -> None:
        await drop_database(pg_admin_url, template)
        await create_contract_template(pg_admin_url, template)
        await migrate(database_url(pg_admin_url, template))

    async def drop_all(names: list[str]) -> None:
        for name in names:
            await drop_database(pg_admin_url, name)

    asyncio.run(prepare())
    databases = MigratedDatabases(pg_admin_url, template)
    with databases.active():
        yield databases
    asyncio.run(drop_all([*databases.created, template]))


@pytest.fixture
async def pg_migrated_url(pg_databases: MigratedDatabases) -> str:
    """A fresh database of its own with the current leaseq schema (dropped at session end)."""
    return await pg_databases.create()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """A skipped browser suite is said loudly, last, where nobody scrolls past it."""
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
        if "CONSOLE BROWSER TESTS NOT RUN" in str(reason):
            terminalreporter.write_sep("!", str(reason).removeprefix("Skipped: "), red=True)
            terminalreporter.write_line(
                "(a developer machine: CI sets CI=true and fails instead of skipping)", red=True
            )
            return
