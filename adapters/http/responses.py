"""orjson-encoded JSON responses (plain and problem+json)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class OrjsonResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class ProblemResponse(OrjsonResponse):
    media_type = "application/problem+json"
