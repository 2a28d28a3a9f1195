"""JSON responses (plain and problem+json), written by orjson."""

from __future__ import annotations

import json
from typing import Any

import orjson
from starlette.responses import JSONResponse

# The standard library's encoder writes what orjson refuses and the service may still hold
# from before it refused such values at the door (integers past 64 bits): read exactly.
_FALLBACK = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def json_bytes(content: Any) -> bytes:
    """`content` as JSON; TypeError or ValueError when no encoder can write it exactly."""
    try:
        return orjson.dumps(content)
    except TypeError:
        return _FALLBACK.encode(content).encode("utf-8")


class OrjsonResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json_bytes(content)


class ProblemResponse(OrjsonResponse):
    media_type = "application/problem+json"
