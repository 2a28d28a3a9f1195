"""The host's real clock, id, token and jitter sources (the production side of the ports)."""

from __future__ import annotations

import os
import random
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from itertools import repeat
from operator import and_, lshift, or_
from uuid import UUID, SafeUUID


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class Uuid7Generator:
    """UUIDv7 (RFC 9562): a millisecond timestamp, then a counter, then random bits, so
    ids sort in creation order within one process and roughly across processes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0
        self._counter = 0
        self._random = b""
        self._offset = 0
        self._pid = os.getpid()

    def new_id(self) -> UUID:
        return self.new_ids(1)[0]

    def new_ids(self, count: int) -> list[UUID]:
        """`count` ids in order: one lock, one clock read and one pass for the batch."""
        with self._lock:
            ms = time.time_ns() // 1_000_000
            if ms <= self._last_ms:
                ms, counter = self._last_ms, self._counter + 1
            else:
                counter = 0
            # One getrandom() call per 512 ids instead of one per id; a forked child
            # draws its own bytes, never its parent's.
            if self._pid != os.getpid():
                self._random, self._offset, self._pid = b"", 0, os.getpid()
            needed = 8 * count
            if self._offset + needed > len(self._random):
                self._random = self._random[self._offset :] + os.urandom(max(4096, needed))
                self._offset = 0
            chunk = self._random[self._offset : self._offset + needed]
            self._offset += needed
            stamps: Iterable[int]
            if counter + count <= 0x1000:  # the 12-bit counter lasts the batch
                base = (ms & _MS_MASK) << 80 | _VERSION | _VARIANT
                stamps = map(
                    or_, repeat(base), map(lshift, range(counter, counter + count), repeat(64))
                )
                counter += count
            else:
                stamps = []
                for _ in range(count):
                    if counter > 0xFFF:  # 12-bit counter exhausted: borrow the next ms
                        ms, counter = ms + 1, 0
                    stamps.append((ms & _MS_MASK) << 80 | _VERSION | _VARIANT | counter << 64)
                    counter += 1
            self._last_ms, self._counter = ms, counter - 1
        draws = memoryview(chunk).cast("Q")  # native order: the bits are random either way
        values = map(or_, stamps, map(and_, draws, repeat(_RAND_MASK)))
        # UUID(int=...) without UUID.__init__'s argument checks, the bits being a well-formed
        # version 7 id by construction; every step a C loop (map), none a Python one
        ids = list(map(object.__new__, repeat(UUID, count)))
        deque(map(object.__setattr__, ids, repeat("int"), values), maxlen=0)
        deque(map(object.__setattr__, ids, repeat("is_safe"), repeat(_SAFE, count)), maxlen=0)
        return ids


_MS_MASK = (1 << 48) - 1
_VERSION = 0x7 << 76
_VARIANT = 0b10 << 62
_RAND_MASK = (1 << 62) - 1
_SAFE = SafeUUID.unknown


class SecretTokenGenerator:
    """160-bit tokens from the operating system's CSPRNG."""

    def new_token(self) -> str:
        return secrets.token_urlsafe(20)


class RandomJitter:
    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.SystemRandom()

    def draw(self) -> float:
        return self._rng.random()
