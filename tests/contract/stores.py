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
from leaseq.ports import Clock, IdGenerator, TaskStore, TokenGenerator

StoreFactory = Callable[..., Awaitable[TaskStore]]


async def memory_store(*, clock: Clock, ids: IdGenerator, tokens: TokenGenerator) -> TaskStore:
    return InMemoryTaskStore(clock=clock, ids=ids, tokens=tokens)


@frozen
class StoreKind:
    name: str
    factory: StoreFactory
    marks: tuple[Any, ...] = ()

    def param(self) -> Any:
        return pytest.param(self.factory, id=self.name, marks=self.marks)


STORE_KINDS: tuple[StoreKind, ...] = (StoreKind("memory", memory_store),)
