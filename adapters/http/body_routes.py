"""Routes that take a JSON body: one mechanism for the fast path and for FastAPI alike.

A `BodyRoute` holds a body schema (bodies.py), the scope its token needs and the endpoint.
`answer` does every step in the same order wherever the request arrives: the token is
checked before a byte of the body is read, then the body is read (within the size limit
that the receive channel enforces, limits.py), decoded strictly by the schema's decoder,
and handed to the endpoint. FastAPI serves it as an ordinary route (the OpenAPI document
shows the schema, with its bounds); the app's fast path (fast_path.py) calls the same
`answer` in front of the middleware stack.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import msgspec
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive

from leaseq.adapters.http.auth import authorize
from leaseq.adapters.http.decoding import decode, decoder
from leaseq.adapters.http.limits import read_body
from leaseq.adapters.http.options import HttpOptions
from leaseq.adapters.http.problems import RequestInvalid
from leaseq.app.access import Scope
from leaseq.app.runtime import Runtime
from leaseq.app.services import TaskService

SCHEMA_REF = "#/components/schemas/{name}"


class Call:
    """What a body route's endpoint is called with, besides its body (a plain class: one
    is made per request)."""

    __slots__ = ("options", "params", "receive", "runtime")

    def __init__(
        self, runtime: Runtime, options: HttpOptions, params: dict[str, Any], receive: Receive
    ) -> None:
        self.runtime = runtime  # the use cases (service, queues, schedules)
        self.options = options
        self.params = params  # path parameters
        self.receive = receive  # the request's channel, to see the client go (long polls)

    @property
    def service(self) -> TaskService:
        return self.runtime.service


Endpoint = Callable[[Any, Call], Awaitable[Response]]


@attrs.frozen
class BodyRoute:
    """A route's body schema (decoded, and shown in the OpenAPI document), the scope it
    needs and its endpoint. `per_item`, for a batch: the schema with its items left as raw
    JSON, decoded when `schema` refuses the body, so each item is judged on its own."""

    schema: type[msgspec.Struct]
    scope: Scope
    endpoint: Endpoint
    per_item: type[msgspec.Struct] | None = None
    decoder: msgspec.json.Decoder[Any] = attrs.field(init=False)
    item_decoder: msgspec.json.Decoder[Any] | None = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "decoder", decoder(self.schema))
        items = None if self.per_item is None else decoder(self.per_item)
        object.__setattr__(self, "item_decoder", items)

    async def answer(self, request: Request) -> Response:
        authorize(request, self.scope)
        state = request.app.state
        options: HttpOptions = state.options
        raw = await read_body(request.scope, request.receive, options.max_body_bytes)
        body = self.read(request.headers.get("content-type"), raw)
        call = Call(state.runtime, options, request.path_params, request.receive)
        return await self.endpoint(body, call)

    def read(self, content_type: str | None, raw: bytes) -> Any:
        """The body as its schema, or (a batch with a bad item) as `per_item`."""
        try:
            return decode(self.decoder, content_type, raw)
        except RequestInvalid:
            if self.item_decoder is None:
                raise
            try:
                return decode(self.item_decoder, content_type, raw)
            except RequestInvalid:
                pass
            raise


def add_body_route(
    router: APIRouter, path: str, route: BodyRoute, method: str = "POST", **options: Any
) -> None:
    """Declare `route` on `router` at `path`; `options` as for `add_api_route`."""

    async def endpoint(request: Request) -> Response:
        return await route.answer(request)

    endpoint.__doc__ = route.endpoint.__doc__
    router.add_api_route(
        path,
        endpoint,
        methods=[method],
        name=route.endpoint.__name__.lstrip("_"),
        openapi_extra={
            "requestBody": request_body(route.schema),
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in re.findall(r"{(\w+)}", path)
            ],
        },
        **options,
    )


def request_body(schema: type[msgspec.Struct]) -> dict[str, Any]:
    ref = {"$ref": SCHEMA_REF.format(name=schema.__name__)}
    return {"required": True, "content": {"application/json": {"schema": ref}}}


def schema_components(routes: list[BodyRoute]) -> dict[str, Any]:
    """The JSON Schema of every body, for the OpenAPI document's components."""
    _, components = msgspec.json.schema_components(
        [route.schema for route in routes], ref_template=SCHEMA_REF
    )
    return components
