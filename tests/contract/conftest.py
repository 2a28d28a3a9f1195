"""Fixtures of the store contract suite: every test runs once per adapter in STORE_KINDS."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from leaseq.ports import TaskStore
from tests.contract.stores import STORE_KINDS, StoreFactory
from tests.support import FakeClock, SequentialIds, SequentialTokens


@pytest.fixture(params=[kind.param() for kind in STORE_KINDS])
def store_factory(request: pytest.FixtureRequest) -> StoreFactory:
    factory: StoreFactory = request.param
    return factory


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ids() -> SequentialIds:
    return SequentialIds()


@pytest.fixture
def tokens() -> SequentialTokens:
    return SequentialTokens()


@pytest.fixture
async def store(
    store_factory: StoreFactory, clock: FakeClock, ids: SequentialIds, tokens: SequentialTokens
) -> AsyncIterator[TaskStore]:
    created = await store_factory(clock=clock, ids=ids, tokens=tokens)
    try:
        yield created
    finally:
        await created.close()
