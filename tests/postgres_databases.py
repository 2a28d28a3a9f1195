"""Migrated test databases: copies of one template migrated once per session.

`CREATE DATABASE … TEMPLATE` copies files, far faster than running the migrations per
test. The `pg_databases` session fixture makes the active instance; code that cannot
take fixtures (Hypothesis state machines) reaches it through `MigratedDatabases.current()`.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import urllib.parse
from collections.abc import Iterator
from typing import ClassVar

import asyncpg

_numbers = itertools.count(1)


class MigratedDatabases:
    _current: ClassVar[MigratedDatabases | None] = None

    def __init__(self, admin_url: str, template: str) -> None:
        self.admin_url = admin_url
        self.template = template
        self.created: list[str] = []

    async def create(self) -> str:
        """A new database with the leaseq schema; usable from any event loop."""
        name = f"leaseq_m{os.getpid()}_{next(_numbers)}"
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        finally:
            await conn.close()
        self.created.append(name)
        parts = urllib.parse.urlsplit(self.admin_url)
        return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        MigratedDatabases._current = self
        try:
            yield
        finally:
            MigratedDatabases._current = None

    @classmethod
    def current(cls) -> MigratedDatabases:
        if cls._current is None:
            raise RuntimeError("request the pg_databases fixture (usefixtures) first")
        return cls._current
