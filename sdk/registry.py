"""The handlers a worker runs, keyed by (type, version): the pairs it claims."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

from attrs import frozen

from leaseq.sdk.types import TypeVersion

HandlerFunction = Callable[..., Any]


@frozen
class Handler:
    type: str
    version: int
    function: HandlerFunction
    is_async: bool
    timeout: float | None = None


def is_async(function: HandlerFunction) -> bool:
    """A coroutine function, or an object whose `__call__` is one (a handler class)."""
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        getattr(function, "__call__", None)  # noqa: B004 - we want the method itself
    )


class HandlerRegistry:
    def __init__(self) -> None:
        self._handlers: dict[tuple[str, int], Handler] = {}

    def register(
        self, type: str, version: int, function: HandlerFunction, *, timeout: float | None = None
    ) -> Handler:
        key = (type, version)
        if key in self._handlers:
            raise ValueError(f"a handler for {type!r} version {version} is already registered")
        handler = Handler(type, version, function, is_async(function), timeout)
        self._handlers[key] = handler
        return handler

    def find(self, type: str, version: int) -> Handler | None:
        return self._handlers.get((type, version))

    def claimable(self) -> tuple[TypeVersion, ...]:
        return tuple(TypeVersion(t, v) for t, v in sorted(self._handlers))

    def __iter__(self) -> Iterator[Handler]:
        return iter(self._handlers.values())

    def __len__(self) -> int:
        return len(self._handlers)


__all__ = ["Handler", "HandlerFunction", "HandlerRegistry"]
