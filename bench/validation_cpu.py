"""CPU per request body: msgspec (the service's schemas, bodies.py) against pydantic v2 in
strict mode (a twin of the same schemas, with the same bounds), on the enqueue and lease
bodies. Interleaved A/B rounds; the best round of each counts (a shared machine only ever
adds time). One JSON line per body. ADR 0017 records a run.

    .venv/bin/python bench/validation_cpu.py --rounds 7 --n 20000
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any, Literal

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from leaseq.adapters.http.bodies import EnqueueIn, LeaseIn, ResultsIn
from leaseq.adapters.http.decoding import decoder

Name = Annotated[
    str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")
]
Token = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[!-~]+$")]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class RetryP(_Strict):
    base_seconds: Annotated[float, Field(ge=0, le=604800)] = 1.0
    factor: Annotated[float, Field(ge=1, le=100)] = 2.0
    max_seconds: Annotated[float, Field(ge=0, le=604800)] = 3600.0
    jitter: Annotated[float, Field(ge=0, le=1)] = 0.2


class TaskP(_Strict):
    queue: Name
    type: Name
    type_version: Annotated[int, Field(ge=1, le=2**31 - 1)] = 1
    payload: Any = None
    labels: Annotated[
        dict[
            Annotated[str, Field(min_length=1, max_length=128)],
            Annotated[str, Field(max_length=1024)],
        ],
        Field(max_length=64),
    ] = {}
    priority: Annotated[int, Field(ge=-1000, le=1000)] = 0
    run_at: AwareDatetime | None = None
    delay_seconds: Annotated[float, Field(ge=0, le=31536000)] | None = None
    max_attempts: Annotated[int, Field(ge=1, le=1000)] = 20
    retry: RetryP | None = None
    idempotency_key: Annotated[str, Field(min_length=1, max_length=256)] | None = None


class EnqueueP(_Strict):
    tasks: Annotated[list[TaskP], Field(min_length=1, max_length=1000)]


class TypeP(_Strict):
    type: Name
    version: Annotated[int, Field(ge=1, le=2**31 - 1)] = 1


class LeaseP(_Strict):
    queue: Name
    worker_id: Annotated[str, Field(min_length=1, max_length=200)]
    types: Annotated[list[TypeP], Field(max_length=100)] | None = None
    max_tasks: Annotated[int, Field(ge=1, le=1000)] = 1
    lease_seconds: Annotated[float, Field(ge=1, le=86400)] = 30.0
    wait_seconds: Annotated[float, Field(ge=0, le=60)] = 0.0


class ResultP(_Strict):
    task_id: Annotated[str, Field(max_length=64)]
    token: Token
    outcome: Literal["complete", "retry", "fail"]
    result: Any = None
    error: str | None = None
    delay_seconds: float | None = None


class ResultsP(_Strict):
    results: Annotated[list[ResultP], Field(max_length=1000)]
    include_tasks: bool = True


SDK_TASK = {
    "queue": "bench",
    "type": "noop",
    "type_version": 1,
    "labels": {},
    "priority": 0,
    "max_attempts": 20,
}
BODIES: dict[str, tuple[bytes, type[Any], type[BaseModel]]] = {
    "enqueue_1": (
        orjson.dumps({"tasks": [{**SDK_TASK, "payload": {"i": 1}}]}),
        EnqueueIn,
        EnqueueP,
    ),
    "enqueue_100": (
        orjson.dumps(
            {"tasks": [{**SDK_TASK, "payload": {"i": i, "s": "x" * 20}} for i in range(100)]}
        ),
        EnqueueIn,
        EnqueueP,
    ),
    "lease": (
        orjson.dumps(
            {
                "queue": "bench",
                "worker_id": "w-1",
                "max_tasks": 10,
                "lease_seconds": 30,
                "wait_seconds": 20,
                "types": [{"type": "noop", "version": 1}],
            }
        ),
        LeaseIn,
        LeaseP,
    ),
    "results_10": (
        orjson.dumps(
            {
                "results": [
                    {
                        "task_id": "01900000-0000-7000-8000-000000000000",
                        "token": "KX9P744Z_UoOcIJUzN9droPoVMo",
                        "outcome": "complete",
                        "result": {"ok": True, "n": i},
                    }
                    for i in range(10)
                ],
                "include_tasks": False,
            }
        ),
        ResultsIn,
        ResultsP,
    ),
}


def cpu_us(call: Callable[[], Any], n: int) -> float:
    start = time.process_time()
    for _ in range(n):
        call()
    return (time.process_time() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--n", type=int, default=20000)
    args = parser.parse_args()
    for name, (raw, schema, model) in BODIES.items():
        decode = decoder(schema).decode
        n = max(args.n // (50 if "100" in name else 1), 200)
        best = {"msgspec": float("inf"), "pydantic_strict": float("inf")}
        for _ in range(args.rounds):  # interleaved: both see the same machine
            best["msgspec"] = min(best["msgspec"], cpu_us(partial(decode, raw), n))
            best["pydantic_strict"] = min(
                best["pydantic_strict"], cpu_us(partial(model.model_validate_json, raw), n)
            )
        print(
            json.dumps(
                {
                    "measure": "validation_cpu",
                    "body": name,
                    "bytes": len(raw),
                    **{k: round(v, 2) for k, v in best.items()},
                    "pydantic_over_msgspec": round(best["pydantic_strict"] / best["msgspec"], 2),
                }
            )
        )


if __name__ == "__main__":
    main()
