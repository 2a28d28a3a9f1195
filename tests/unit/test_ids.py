"""Uuid7Generator: version 7 ids that sort in the order they were made, alone or in batches."""

from __future__ import annotations

import time
from uuid import UUID

import pytest

from leaseq.adapters.system import Uuid7Generator


def test_single_ids_and_batches_interleaved_are_distinct_version_7_ids_in_order() -> None:
    ids = Uuid7Generator()
    made = [ids.new_id(), *ids.new_ids(3), ids.new_id(), *ids.new_ids(1000), *ids.new_ids(0)]
    assert len(made) == 1005 == len(set(made))
    assert made == sorted(made)
    for one in made:
        assert (one.version, one.variant) == (7, "specified in RFC 4122")
        assert UUID(str(one)) == one and hash(UUID(str(one))) == hash(one)


def test_a_batch_beyond_the_counter_borrows_the_next_milliseconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(time, "time_ns", lambda: 1_700_000_000_000 * 1_000_000)
    ids = Uuid7Generator()
    made = [*ids.new_ids(4096 * 2 + 1), ids.new_id()]
    stamps = [one.int >> 80 for one in made]
    assert made == sorted(made) and len(set(made)) == len(made)
    assert (stamps[0], stamps[4096], stamps[8192], stamps[-1]) == (
        1_700_000_000_000,
        1_700_000_000_001,
        1_700_000_000_002,
        1_700_000_000_002,
    )


def test_the_random_bits_differ_between_ids() -> None:
    made = Uuid7Generator().new_ids(100)
    assert len({one.int & ((1 << 62) - 1) for one in made}) == 100
