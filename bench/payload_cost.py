"""What a payload costs the service per task, by its size: the decoding and encoding that
passing payloads through as JSON text (issue #21, item 4) would remove.

For each payload (the benchmarks' `{"i": n}`, and about 1 KB and 10 KB of a typical
object), in this process, with the service's own functions:
  enqueue   one SDK-shaped task decoded from its request body (the body schema, the
            exact-number rule) and its payload checked and encoded for the store
            (`check_each`), against the same body with the payload read as
            `msgspec.Raw` (its text kept, nothing checked: the floor of a pass-through);
  lease     the stored text decoded (the json column's codec, `decode_json`) and
            written into a lease answer (`lease_json`, orjson), against the text
            put into the answer as an `orjson.Fragment`.
One JSON line per payload, microseconds per task (best of 5 repeats).

    .venv/bin/python bench/payload_cost.py
"""

from __future__ import annotations

import json
import timeit
from typing import Any

import msgspec
import orjson
from payloads import ONE_KB, SMALL, TEN_KB

from leaseq.adapters.http.bodies import EnqueueIn
from leaseq.adapters.http.decoding import decode, decoder
from leaseq.adapters.postgres.statements import decode_json
from leaseq.domain import TaskSpec
from leaseq.domain.validation import check_each


class RawTask(msgspec.Struct, forbid_unknown_fields=True):
    """The SDK's task shape with the payload kept as text (what a pass-through reads)."""

    queue: str
    type: str
    type_version: int = 1
    payload: msgspec.Raw = msgspec.Raw(b"null")
    labels: dict[str, str] = {}
    priority: int = 0
    max_attempts: int = 20
    idempotency_key: str | None = None


class RawEnqueue(msgspec.Struct):
    tasks: list[RawTask]


def best(fn: Any, number: int) -> float:
    """Microseconds per call, best of 5."""
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def measure(name: str, payload: Any) -> dict[str, Any]:
    body = orjson.dumps(
        {
            "tasks": [
                {
                    "queue": "bench",
                    "type": "noop",
                    "type_version": 1,
                    "payload": payload,
                    "labels": {},
                    "priority": 0,
                    "max_attempts": 20,
                    "idempotency_key": "sdk:abcdefghijklmnopqrstuv:0",
                }
            ]
        }
    )
    full, raw = decoder(EnqueueIn), msgspec.json.Decoder(RawEnqueue)
    spec = TaskSpec("bench", "noop", payload)

    def enqueue_decoded() -> str:
        task = decode(full, "application/json", body).tasks[0]
        return check_each(spec, [task.payload])

    def enqueue_raw() -> str:
        return bytes(raw.decode(body).tasks[0].payload).decode()

    stored = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    head = {"task_id": "0b6f7c1e-8a2d-4c3b-9e1f-2a3b4c5d6e7f", "token": "t" * 27, "epoch": 1}

    def lease_decoded() -> bytes:
        return orjson.dumps({**head, "payload": decode_json(stored)})

    def lease_fragment() -> bytes:
        return orjson.dumps({**head, "payload": orjson.Fragment(stored)})

    assert orjson.loads(lease_decoded()) == orjson.loads(lease_fragment())
    assert [orjson.loads(enqueue_raw())] == orjson.loads(enqueue_decoded())  # an array of one
    number = 20000 if len(stored) < 100 else 2000
    return {
        "payload": name,
        "payload_bytes": len(stored),
        "enqueue_us": round(best(enqueue_decoded, number), 2),
        "enqueue_raw_us": round(best(enqueue_raw, number), 2),
        "lease_us": round(best(lease_decoded, number), 2),
        "lease_fragment_us": round(best(lease_fragment, number), 2),
    }


def main() -> None:
    for name, payload in (("small", SMALL), ("1kb", ONE_KB), ("10kb", TEN_KB)):
        print(json.dumps(measure(name, payload)), flush=True)


if __name__ == "__main__":
    main()
