"""The task-store adapters the contract suite runs against, each behind one async factory.

A factory takes keyword arguments `clock`, `ids` and `tokens` (the test doubles of the
ports) and returns a fresh, empty store; the caller awaits `store.close()` when done.
To hold a new adapter to the contract, add one `StoreKind` here; no test changes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from attrs import frozen

from leaseq.adapters.memory import InMemoryTaskStore
from leaseq.adapters.postgres import open_postgres_store
from leaseq.ports import Clock, IdGenerator, TaskStore, TokenGenerator
from tests.postgres_databases import MigratedDatabases

StoreFactory = Callable[..., Awaitable[TaskStore]]


async def memory_store(*, clock: Clock, ids: IdGenerator, tokens: TokenGenerator) -> TaskStore:
    return InMemoryTaskStore(clock=clock, ids=ids, tokens=tokens)


async def postgres_store(*, clock: Clock, ids: IdGenerator, tokens: TokenGenerator) -> TaskStore:
    """A store on a fresh migrated database (needs the `pg_databases` fixture). `clock`
    is unused: PostgreSQL's clock rules, and the tests pass `now=` explicitly."""
    url = await MigratedDatabases.current().create()
    return await open_postgres_store(url, pool_size=2, ids=ids, tokens=tokens)


@frozen
class StoreKind:
    name: str
    factory: StoreFactory
    marks: tuple[Any, ...] = ()

    def param(self) -> Any:
        # fixtures reach parametrized tests through the store_factory fixture instead
        marks = tuple(mark for mark in self.marks if mark.name != "usefixtures")
        return pytest.param(self.factory, id=self.name, marks=marks)


STORE_KINDS: tuple[StoreKind, ...] = (
    StoreKind("memory", memory_store),
    StoreKind(
        "postgres",
        postgres_store,
        marks=(pytest.mark.postgres, pytest.mark.usefixtures("pg_databases")),
    ),
)
