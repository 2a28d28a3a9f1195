"""Id and secret-token generators, so that tests can make them deterministic."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID


class IdGenerator(Protocol):
    def new_id(self) -> UUID:
        """A new task id. Ids made later by one generator sort after earlier ones."""
        ...

    def new_ids(self, count: int) -> list[UUID]:
        """`count` new ids, as `count` calls of new_id would make them (a batch's ids)."""
        ...


class TokenGenerator(Protocol):
    def new_token(self) -> str:
        """A new lease token: an unguessable URL-safe secret of 128 bits or more."""
        ...


class JitterSource(Protocol):
    def draw(self) -> float:
        """A number in [0, 1) for the retry policy's jitter."""
        ...
