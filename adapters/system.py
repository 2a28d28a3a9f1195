"""The host's real clock, id, token and jitter sources (the production side of the ports)."""

from __future__ import annotations

import os
import random
import secrets
import threading
import time
from datetime import UTC, datetime
from uuid import UUID


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
        with self._lock:
            ms = time.time_ns() // 1_000_000
            if ms <= self._last_ms:
                ms = self._last_ms
                self._counter += 1
                if self._counter > 0xFFF:  # 12-bit counter exhausted: borrow the next ms
                    ms += 1
                    self._counter = 0
            else:
                self._counter = 0
            self._last_ms = ms
            counter = self._counter
            # One getrandom() call per 512 ids instead of one per id; a forked child
            # draws its own bytes, never its parent's.
            if self._offset >= len(self._random) or self._pid != os.getpid():
                self._random, self._offset, self._pid = os.urandom(4096), 0, os.getpid()
            chunk = self._random[self._offset : self._offset + 8]
            self._offset += 8
        rand = int.from_bytes(chunk, "big") & ((1 << 62) - 1)
        value = (ms & ((1 << 48) - 1)) << 80
        value |= 0x7 << 76
        value |= counter << 64
        value |= 0b10 << 62
        value |= rand
        return UUID(int=value)


class SecretTokenGenerator:
    """160-bit tokens from the operating system's CSPRNG."""

    def new_token(self) -> str:
        return secrets.token_urlsafe(20)


class RandomJitter:
    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.SystemRandom()

    def draw(self) -> float:
        return self._rng.random()
