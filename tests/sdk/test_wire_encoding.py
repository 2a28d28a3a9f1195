"""The HTTP transport's request bodies and answer ids: fast paths, the standard library's
semantics."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import uuid
from typing import Any

import pytest

from leaseq.sdk.transport.http import _encode
from leaseq.sdk.transport.wire import task_id


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


IDS = [
    str(uuid.UUID(int=2**128 - 1)),
    "0192F0C1-7F6B-7A1C-8B3E-123456789ABC",
    "{12345678-1234-5678-1234-567812345678}",
    "urn:uuid:12345678-1234-5678-1234-567812345678",
    "12345678123456781234567812345678",
    "1-2-3-4-5678123456781234567812345678",  # UUID ignores where the hyphens are
    "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668-1234-5678-1234-567812345678",
    "1234567g-1234-5678-1234-567812345678",
    "+2345678-1234-5678-1234-567812345678",
    "12345678-1234-5678-1234-56781234567_",
    " 2345678-1234-5678-1234-567812345678",
    "12345678-1234-5678-1234-5678123456789",
    "",
]


@pytest.mark.parametrize("text", IDS)
def test_an_answer_id_reads_as_uuid_reads_it(text: str) -> None:
    try:
        expected: Any = uuid.UUID(text)
    except ValueError as error:
        with pytest.raises(type(error)):
            task_id(text)
        return
    found = task_id(text)
    assert (found, str(found), hash(found), found.is_safe) == (
        expected,
        str(expected),
        hash(expected),
        expected.is_safe,
    )
