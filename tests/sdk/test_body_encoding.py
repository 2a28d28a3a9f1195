"""The HTTP transport's request bodies: orjson's speed, the standard library's semantics."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import uuid
from typing import Any

import pytest

from leaseq.sdk.transport.http import _encode


class Colour(enum.Enum):
    RED = 1


class Level(enum.IntEnum):
    HIGH = 3


@dataclasses.dataclass
class Point:
    x: int


def stdlib(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


SENT = [
    {"tasks": [{"queue": "q", "payload": {"i": i, "s": "é€😀"}} for i in range(3)]},
    {"big": 2**64, "small": -(2**63) - 1, "huge": 10**40},  # past 64 bits: orjson refuses
    {"floats": [0.1, 1e16, 1.5e-7, -0.0, 1.7976931348623157e308, 5e-324]},
    {1: "int key", None: "null key", 2.5: "float key"},  # keys json turns into strings
    {"tuple": (1, 2), "level": Level.HIGH, "null": None},
]


@pytest.mark.parametrize("body", SENT)
def test_what_is_sent_reads_back_as_the_standard_library_would_send_it(body: Any) -> None:
    sent = _encode(body)
    assert json.loads(sent) == json.loads(stdlib(body))
    # the same values exactly: floats and long integers survive the round trip
    assert repr(json.loads(sent)) == repr(json.loads(stdlib(body)))


REFUSED = [
    {"nan": float("nan")},
    {"inf": float("inf")},
    {"id": uuid.UUID(int=1)},
    {"colour": Colour.RED},
    {"when": datetime.date(2026, 1, 1)},
    {"point": Point(1)},
    {"lone": "\udc00"},
]


@pytest.mark.parametrize("body", REFUSED)
def test_what_the_standard_library_refuses_is_refused_alike(body: Any) -> None:
    with pytest.raises(Exception) as expected:
        stdlib(body)
    with pytest.raises(type(expected.value)):
        _encode(body)
