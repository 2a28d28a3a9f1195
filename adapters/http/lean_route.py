"""Worker hot-path routes without FastAPI's per-request machinery.

A `LeanRoute` is declared like any route (so the OpenAPI document is unchanged), but a
well-formed request skips dependency solving and FastAPI's body handling: the body is
parsed with orjson, the scope is checked, the pydantic model validates the dict, and the
endpoint is called with the service and options read from `app.state`. Anything else (not
JSON, a wrong content type, a body the model refuses) goes to the ordinary FastAPI handler,
so every error answer is exactly FastAPI's, byte for byte.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import attrs
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic import ValidationError as ModelInvalid
from starlette.requests import Request
from starlette.responses import Response

from leaseq.adapters.http.auth import require
from leaseq.adapters.http.json_body import OrjsonRequest, loads
from leaseq.adapters.http.limits import replay
from leaseq.adapters.http.options import HttpOptions
from leaseq.app.access import Scope
from leaseq.app.services import TaskService

# (body model, service, options, path parameters) -> response
LeanEndpoint = Callable[[Any, TaskService, HttpOptions, dict[str, Any]], Awaitable[Response]]

_JSON = "application/json"


# A body (a JSON object) read into the endpoint's argument by other means than the model;
# None when unsure: FastAPI's handler then answers, with the model.
BodyReader = Callable[[dict[str, Any]], Any | None]


@attrs.frozen
class LeanSpec:
    """A hot route's body model, its scope check and the endpoint that answers it."""

    model: type[BaseModel]
    check: Callable[[Request], Awaitable[None]]
    endpoint: LeanEndpoint
    read: BodyReader | None = None


def lean_spec(
    model: type[BaseModel], scope: Scope, endpoint: LeanEndpoint, read: BodyReader | None = None
) -> LeanSpec:
    return LeanSpec(model, require(scope), endpoint, read)


def lean(spec: LeanSpec) -> type[APIRoute]:
    """A route class whose well-formed requests run `spec.endpoint` directly."""

    class LeanRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            full = super().get_route_handler()

            async def handler(request: Request) -> Response:
                raw = await request.body()
                body = validated(spec.model, request.headers.get("content-type"), raw, spec.read)
                if body is None:
                    return await full(OrjsonRequest(request.scope, replay(raw, request.receive)))
                await spec.check(request)
                state = request.app.state
                return await spec.endpoint(
                    body, state.runtime.service, state.options, request.path_params
                )

            return handler

    return LeanRoute


def validated(
    model: type[BaseModel], content_type: str | None, raw: bytes, read: BodyReader | None = None
) -> Any | None:
    """The validated body (by `read` when given, else the model), or None when FastAPI's
    own handler must answer."""
    if content_type is None or content_type.split(";", 1)[0].strip().lower() != _JSON:
        return None
    try:
        data = loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    if read is not None:
        return read(data)
    try:
        return model.model_validate(data)
    except ModelInvalid:
        return None
