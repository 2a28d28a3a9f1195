"""`leaseq.sdk.event_loop.run`: uvloop when installed, plain asyncio otherwise."""

from __future__ import annotations

import asyncio
import sys

import pytest
import uvloop

from leaseq.sdk import event_loop


async def _loop_class() -> type:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop())


def test_runs_on_uvloop_when_it_is_installed() -> None:
    assert event_loop.run(_loop_class()) is uvloop.Loop


def test_falls_back_to_asyncio_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` now raises ImportError
    ran_on = event_loop.run(_loop_class())
    assert not issubclass(ran_on, uvloop.Loop)
    assert issubclass(ran_on, asyncio.BaseEventLoop)
