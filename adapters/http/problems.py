"""The ONE table from errors to problem+json: status, stable `type` code and title.

Every route raises domain, port or HTTP-adapter errors; nothing catches them locally.
"""

from __future__ import annotations

from typing import Any

from attrs import frozen

from leaseq.domain import (
    DomainError,
    InvalidTransition,
    LeaseConflict,
    LeaseExpired,
    LeaseLost,
    PayloadTooLarge,
    ScheduleNotFound,
    TaskCancelled,
    TaskNotFound,
    ValidationError,
)
from leaseq.ports import SchemaOutOfDate, StoreError, StoreUnavailable


class HttpProblem(Exception):
    """An error of the HTTP adapter itself (auth, body limits, unknown route)."""

    code = "http_problem"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class Unauthorized(HttpProblem):
    code = "unauthorized"


class Forbidden(HttpProblem):
    code = "forbidden"


class BodyTooLarge(HttpProblem):
    code = "payload_too_large"


class RouteNotFound(HttpProblem):
    code = "not_found"


class MethodNotAllowed(HttpProblem):
    code = "method_not_allowed"


class RequestTimeout(HttpProblem):
    """The request's headers or body did not arrive within the server's read timeout."""

    code = "request_timeout"


class HostNotAllowed(HttpProblem):
    """Development mode (no tokens) answers only requests addressed to a loopback host."""

    code = "host_not_allowed"


class ClientGone(HttpProblem):
    """The client went away before its request body arrived whole (nobody reads the answer)."""

    code = "client_disconnected"


class MalformedRequest(HttpProblem):
    """The bytes are not an HTTP/1.1 request (a control character in a header, a broken
    request line): the protocol answers before any route runs, and closes the connection."""

    code = "malformed_request"


class RequestInvalid(HttpProblem):
    """The request did not match its schema (pydantic); `errors` lists each field."""

    code = "validation_error"


@frozen
class ProblemType:
    status: int
    code: str
    title: str


# Looked up along the exception's MRO, so the most specific row wins.
PROBLEM_TABLE: dict[type[Exception], ProblemType] = {
    TaskNotFound: ProblemType(404, "task_not_found", "Task not found"),
    ScheduleNotFound: ProblemType(404, "schedule_not_found", "Schedule not found"),
    LeaseLost: ProblemType(409, "lease_lost", "Lease lost"),
    LeaseExpired: ProblemType(409, "lease_expired", "Lease expired"),
    TaskCancelled: ProblemType(409, "task_cancelled", "Task cancelled"),
    LeaseConflict: ProblemType(409, "lease_lost", "Lease lost"),
    InvalidTransition: ProblemType(409, "invalid_transition", "Invalid transition"),
    PayloadTooLarge: ProblemType(413, "payload_too_large", "Payload too large"),
    ValidationError: ProblemType(422, "validation_error", "Validation error"),
    DomainError: ProblemType(422, "validation_error", "Request refused"),
    StoreUnavailable: ProblemType(503, "store_unavailable", "Store unavailable"),
    SchemaOutOfDate: ProblemType(503, "store_unavailable", "Database schema out of date"),
    StoreError: ProblemType(503, "store_unavailable", "Store error"),
    Unauthorized: ProblemType(401, "unauthorized", "Unauthorized"),
    Forbidden: ProblemType(403, "forbidden", "Forbidden"),
    BodyTooLarge: ProblemType(413, "payload_too_large", "Payload too large"),
    RouteNotFound: ProblemType(404, "not_found", "Not found"),
    MethodNotAllowed: ProblemType(405, "method_not_allowed", "Method not allowed"),
    RequestInvalid: ProblemType(422, "validation_error", "Validation error"),
    RequestTimeout: ProblemType(408, "request_timeout", "Request timeout"),
    HostNotAllowed: ProblemType(403, "host_not_allowed", "Host not allowed"),
    ClientGone: ProblemType(400, "client_disconnected", "Client disconnected"),
    MalformedRequest: ProblemType(400, "malformed_request", "Malformed HTTP request"),
}

INTERNAL = ProblemType(500, "internal_error", "Internal server error")

# Every status a problem may carry, for the OpenAPI document.
PROBLEM_CODES_BY_STATUS: dict[int, list[str]] = {}
for _problem in PROBLEM_TABLE.values():
    codes = PROBLEM_CODES_BY_STATUS.setdefault(_problem.status, [])
    if _problem.code not in codes:
        codes.append(_problem.code)


def problem_type_of(error: BaseException) -> ProblemType:
    for cls in type(error).__mro__:
        found = PROBLEM_TABLE.get(cls)
        if found is not None:
            return found
    return INTERNAL


def problem_body(error: BaseException) -> dict[str, Any]:
    """The problem object of an error: type, title, status, detail and its extensions."""
    kind = problem_type_of(error)
    body: dict[str, Any] = {
        "type": kind.code,
        "title": kind.title,
        "status": kind.status,
        "detail": _detail(error, kind),
    }
    body.update(_extensions(error))
    return body


def _detail(error: BaseException, kind: ProblemType) -> str:
    if kind is INTERNAL:
        return "the service failed to answer; the error was logged"
    if isinstance(error, StoreError) and not isinstance(error, StoreUnavailable | SchemaOutOfDate):
        return "the database refused the request; the error was logged"  # no driver text
    if isinstance(error, HttpProblem):
        return error.detail
    return str(error)


def _extensions(error: BaseException) -> dict[str, Any]:
    if isinstance(error, HttpProblem):
        return dict(error.extensions)
    extra: dict[str, Any] = {}
    task_id = getattr(error, "task_id", None)
    if task_id is not None:
        extra["task_id"] = str(task_id)
    if isinstance(error, ScheduleNotFound):
        extra["name"] = error.name
    if isinstance(error, ValidationError):
        extra["errors"] = [{"field": error.field, "message": error.message}]
    return extra
