"""The HTTP representations written by hand: byte for byte what orjson writes of the dicts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from leaseq.adapters.http.representations import new_tasks_body, new_tasks_json, timestamp
from leaseq.adapters.system import Uuid7Generator
from leaseq.domain import NewTasks
from tests.support import spec


@pytest.mark.parametrize("count", [0, 1, 2, 1000])
def test_the_answer_of_new_tasks_is_orjsons_own(count: int) -> None:
    new = NewTasks(spec(), [None] * count, Uuid7Generator().new_ids(count), None)
    assert new_tasks_body(new) == orjson.dumps({"tasks": new_tasks_json(new)})


def test_ids_of_another_uuid_type_are_written_as_strings() -> None:
    class OtherUuid(uuid.UUID):
        pass

    new = NewTasks(spec(), [1], [OtherUuid(int=5)], None)
    expected = {"id": str(uuid.UUID(int=5)), "state": "pending", "deduplicated": False}
    assert orjson.loads(new_tasks_body(new)) == {"tasks": [expected]}


@given(st.datetimes(timezones=st.just(UTC)))
def test_a_utc_timestamp_is_written_as_isoformat_writes_it(value: datetime) -> None:
    assert timestamp(value) == value.isoformat()


@given(
    st.datetimes(
        timezones=st.one_of(
            st.none(),
            st.timezones(),
            st.builds(timezone, st.timedeltas(timedelta(hours=-23), timedelta(hours=23))),
        )
    )
)
def test_any_other_timestamp_is_written_by_isoformat(value: datetime) -> None:
    assert timestamp(value) == value.isoformat()
