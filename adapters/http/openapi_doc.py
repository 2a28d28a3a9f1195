"""The OpenAPI document: every error response is problem+json with the Problem schema."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from leaseq.adapters.http.problems import PROBLEM_CODES_BY_STATUS
from leaseq.adapters.http.schemas import ProblemOut

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/ProblemOut"}


def problem(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for a route that may answer these problem statuses."""
    return {
        status: {
            "model": ProblemOut,
            "description": "problem: " + ", ".join(PROBLEM_CODES_BY_STATUS.get(status, [])),
        }
        for status in statuses
    }


def install_openapi(app: FastAPI, bodies: dict[str, Any]) -> None:
    """The app's document, with `bodies` (the request bodies' JSON Schemas) as components."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            _problems_as_problem_json(doc)
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            clashes = set(schemas) & set(bodies)
            assert not clashes, f"request and response schemas share names: {clashes}"
            schemas.update(bodies)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _problems_as_problem_json(doc: dict[str, Any]) -> None:
    for path_item in doc.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.get("responses", {})
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}}
    doc.setdefault("components", {}).setdefault("schemas", {})
    doc["components"]["schemas"].pop("HTTPValidationError", None)
    doc["components"]["schemas"].pop("ValidationError", None)
