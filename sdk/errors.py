"""The SDK's exception root and its typed errors, one per API error code.

Every transport raises these, so callers and the worker handle one family of errors
whether they talk HTTP or call the service in-process.
"""

from __future__ import annotations

from typing import Any


class LeaseqClientError(Exception):
    """Root of every error the SDK raises. `code` is the API's stable error code."""

    code = "error"
    default_status = 500

    def __init__(
        self,
        detail: str = "",
        *,
        status: int | None = None,
        code: str | None = None,
        task_id: str | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.code)
        self.detail = detail
        self.status = self.default_status if status is None else status
        if code is not None:
            self.code = code
        self.task_id = task_id
        self.extensions = dict(extensions or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code!r}, {self.detail!r})"


class TaskNotFound(LeaseqClientError):
    code = "task_not_found"
    default_status = 404


class ScheduleNotFound(LeaseqClientError):
    """No schedule with that name (`name` in `extensions`)."""

    code = "schedule_not_found"
    default_status = 404


class FeatureUnavailable(LeaseqClientError):
    """The transport was built without what the call needs (e.g. an in-process transport
    given no queue administration); say so, send nothing."""

    code = "feature_unavailable"
    default_status = 0


class LeaseConflict(LeaseqClientError):
    """A fenced call (heartbeat, complete, retry, fail, release) was refused."""

    code = "lease_conflict"
    default_status = 409


class LeaseLost(LeaseConflict):
    code = "lease_lost"


class LeaseExpired(LeaseConflict):
    code = "lease_expired"


class TaskCancelled(LeaseConflict):
    code = "task_cancelled"


class InvalidTransition(LeaseqClientError):
    code = "invalid_transition"
    default_status = 409


class ValidationFailed(LeaseqClientError):
    """Bad input; `errors` lists {"field", "message"} entries."""

    code = "validation_error"
    default_status = 422

    @property
    def errors(self) -> list[dict[str, str]]:
        return list(self.extensions.get("errors", []))


class PayloadTooLarge(ValidationFailed):
    code = "payload_too_large"
    default_status = 413


class Unauthorized(LeaseqClientError):
    code = "unauthorized"
    default_status = 401


class Forbidden(LeaseqClientError):
    code = "forbidden"
    default_status = 403


class ServiceUnavailable(LeaseqClientError):
    """The service (or its database) cannot answer now; safe calls are retried."""

    code = "store_unavailable"
    default_status = 503


class TransportError(LeaseqClientError):
    """The request did not get an answer (connection refused, reset, timed out).

    `request_sent` is False when the request certainly never reached the service
    (e.g. connection refused), so even a call that is unsafe to repeat may be retried.
    """

    code = "transport_error"
    default_status = 0

    def __init__(self, detail: str = "", *, request_sent: bool = True) -> None:
        super().__init__(detail)
        self.request_sent = request_sent


class InvalidHeaderValue(LeaseqClientError, ValueError):
    """A header value the client refuses to send: CR, LF or NUL in it would end the
    header and let the rest be read as other headers (header injection). Raised before
    anything is sent; `header` names the header (its value is not repeated: it may be a
    secret)."""

    code = "invalid_header_value"
    default_status = 0

    def __init__(self, header: str) -> None:
        super().__init__(f"the {header} header may not contain CR, LF or NUL characters")
        self.header = header


ERRORS_BY_CODE: dict[str, type[LeaseqClientError]] = {
    cls.code: cls
    for cls in (
        TaskNotFound,
        ScheduleNotFound,
        LeaseLost,
        LeaseExpired,
        TaskCancelled,
        InvalidTransition,
        ValidationFailed,
        PayloadTooLarge,
        Unauthorized,
        Forbidden,
        ServiceUnavailable,
    )
}

# For answers without a known code (e.g. a proxy's HTML error page).
_BY_STATUS: dict[int, type[LeaseqClientError]] = {
    401: Unauthorized,
    403: Forbidden,
    413: PayloadTooLarge,
    422: ValidationFailed,
}


def error_from_problem(status: int, problem: dict[str, Any]) -> LeaseqClientError:
    """The typed error for a problem+json body (unknown codes keep the generic root)."""
    code = str(problem.get("type") or "error")
    detail = str(problem.get("detail") or problem.get("title") or code)
    cls = ERRORS_BY_CODE.get(code) or _BY_STATUS.get(status)
    if cls is None:
        cls = ServiceUnavailable if status >= 500 else LeaseqClientError
    known = {"type", "title", "status", "detail"}
    task_id = problem.get("task_id")
    return cls(
        detail,
        status=status,
        code=code,
        task_id=None if task_id is None else str(task_id),
        extensions={k: v for k, v in problem.items() if k not in known},
    )


__all__ = [
    "ERRORS_BY_CODE",
    "FeatureUnavailable",
    "Forbidden",
    "InvalidHeaderValue",
    "InvalidTransition",
    "LeaseConflict",
    "LeaseExpired",
    "LeaseLost",
    "LeaseqClientError",
    "PayloadTooLarge",
    "ScheduleNotFound",
    "ServiceUnavailable",
    "TaskCancelled",
    "TaskNotFound",
    "TransportError",
    "Unauthorized",
    "ValidationFailed",
    "error_from_problem",
]
