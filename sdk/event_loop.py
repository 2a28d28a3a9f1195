"""`run`: asyncio.run on uvloop when it is installed, the loop a worker process should use.

uvicorn[standard], a leaseq dependency, brings uvloop on Linux and macOS. A worker spends
much of its CPU in the event loop itself (socket reads and writes, callbacks): on uvloop
the end-to-end benchmark's worker used 10-15 % less CPU per task, and c=50 ran faster.
Without uvloop (Windows, or a trimmed install) it is plain asyncio.run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` to completion on a new event loop (uvloop's when installed)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


__all__ = ["run"]
