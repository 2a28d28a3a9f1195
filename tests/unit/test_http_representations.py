"""The HTTP representations written by hand: byte for byte what orjson writes of the dicts."""

from __future__ import annotations

import uuid

import orjson
import pytest

from leaseq.adapters.http.representations import new_tasks_body, new_tasks_json
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
