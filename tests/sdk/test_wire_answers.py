"""Answers read in bulk (wire.enqueue_results): what reading each one would give."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from leaseq.sdk.transport import wire

IDS = [uuid.UUID(int=n * 2**100 + n) for n in range(1, 5)]


def bodies(*texts: Any) -> list[dict[str, Any]]:
    return [
        {"id": t, "state": "pending" if n % 2 else "succeeded", "deduplicated": n % 2 == 0}
        for n, t in enumerate(texts)
    ]


@pytest.mark.parametrize(
    "texts",
    [
        [str(i) for i in IDS],
        [str(IDS[0]), str(IDS[1]).upper()],  # not canonical: each read by UUID()
        [str(IDS[0]), "{" + str(IDS[1]) + "}"],
        [str(IDS[0]), str(IDS[1]).replace("-", "")],
    ],
)
def test_bulk_reading_gives_what_reading_each_gives(texts: list[str]) -> None:
    found = wire.enqueue_results(bodies(*texts))
    expected = [wire.enqueue_result(b) for b in bodies(*texts)]
    assert found == expected
    assert [(r.id.int, r.id.is_safe, str(r.id), hash(r.id)) for r in found] == [
        (r.id.int, r.id.is_safe, str(r.id), hash(r.id)) for r in expected
    ]


@pytest.mark.parametrize(
    "texts",
    [[str(IDS[0]), "not-a-uuid"], [str(IDS[0]), 5], [str(IDS[0]), None]],
    ids=["not hex", "an int", "null"],
)
def test_a_malformed_id_fails_as_reading_each_would(texts: list[Any]) -> None:
    with pytest.raises(Exception) as each:
        [wire.enqueue_result(b) for b in bodies(*texts)]
    with pytest.raises(type(each.value)):
        wire.enqueue_results(bodies(*texts))
