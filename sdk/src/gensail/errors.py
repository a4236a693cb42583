"""Exceptions: one class per problem code of the API, grouped under one class per HTTP status.

Catch a code (``except JobNotSkipped``), a status family (``except NotFoundError``) or any answer of the API
(``except APIError``). An answer whose code this client does not know becomes its status family's class, or
``APIError`` itself.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import httpx
from pydantic import ValidationError as PydanticValidationError

from gensail.models import Problem, ValidationIssue


class GensailError(Exception):
    """Base of every exception this client raises."""


class APIConnectionError(GensailError):
    """The API could not be reached (connection refused, reset, timed out) within the retry budget."""

    def __init__(self, message: str, *, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts


class APIError(GensailError):
    """The API answered with an error: its RFC 9457 problem's fields, and how many attempts it took."""

    status_code: ClassVar[int | None] = None
    problem_code: ClassVar[str | None] = None

    def __init__(
        self,
        *,
        status: int,
        code: str | None,
        title: str,
        detail: str,
        type: str | None = None,
        instance: str | None = None,
        errors: list[ValidationIssue] | None = None,
        response: httpx.Response | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(f"{status} {code or 'error'}: {detail}")
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.type = type
        self.instance = instance
        self.errors = errors or []
        self.response = response
        self.attempts = attempts

    @property
    def retry_after(self) -> str | None:
        """The answer's ``Retry-After`` header, if it had one."""
        return self.response.headers.get("retry-after") if self.response is not None else None


# One class per HTTP status the API uses; each problem code's class derives from its status's class.
class BadRequestError(APIError):
    status_code = 400


class AuthenticationError(APIError):
    status_code = 401


class PermissionDeniedError(APIError):
    status_code = 403


class NotFoundError(APIError):
    status_code = 404


class MethodNotAllowedError(APIError):
    status_code = 405


class ConflictError(APIError):
    status_code = 409


class PreconditionFailedError(APIError):
    status_code = 412


class PayloadTooLargeError(APIError):
    status_code = 413


class URITooLongError(APIError):
    status_code = 414


class UnsupportedMediaTypeError(APIError):
    status_code = 415


class RateLimitError(APIError):
    status_code = 429


class HeadersTooLargeError(APIError):
    status_code = 431


class InternalServerError(APIError):
    """Any 5xx answer."""

    status_code = 500


class ServiceUnavailableError(InternalServerError):
    status_code = 503


class ValidationError(BadRequestError):
    """Malformed body, path or query; ``errors`` lists each failed check."""

    problem_code = "validation_error"


class InvalidStatus(BadRequestError):
    """A requeue asked for a status other than ``queued``."""

    problem_code = "invalid_status"


class JobNotSkipped(BadRequestError):
    """The job is not ``skipped``: also what a retried requeue answers when its first attempt landed."""

    problem_code = "job_not_skipped"


class InvalidCursor(BadRequestError):
    problem_code = "invalid_cursor"


class WorkspaceRequired(BadRequestError):
    """An organization or partner key listed jobs without naming a workspace."""

    problem_code = "workspace_required"


class Unauthorized(AuthenticationError):
    """Missing, unknown or revoked API key."""

    problem_code = "unauthorized"


class Forbidden(PermissionDeniedError):
    """The key has no access to that workspace, level or job."""

    problem_code = "forbidden"


class SettingNotWritable(PermissionDeniedError):
    """A config patch touched a setting only an operator may change."""

    problem_code = "setting_not_writable"


class JobNotFound(NotFoundError):
    problem_code = "job_not_found"


class BatchNotFound(NotFoundError):
    problem_code = "batch_not_found"


class RouteNotFound(NotFoundError):
    problem_code = "route_not_found"


class MethodNotAllowed(MethodNotAllowedError):
    problem_code = "method_not_allowed"


class BatchInProgress(ConflictError):
    """One of the batch's workspaces already has a pending or running batch; ``detail`` names both."""

    problem_code = "batch_in_progress"


class IdempotencyKeyReused(ConflictError):
    """The ``Idempotency-Key`` was already used by this API key for a batch with another body."""

    problem_code = "idempotency_key_reused"


class IdempotencyKeyInUse(ConflictError):
    """The first request with this ``Idempotency-Key`` is still running; retried within the budget, then raised."""

    problem_code = "idempotency_key_in_use"


class BatchFinished(ConflictError):
    """A cancel reached a batch that had already ended."""

    problem_code = "batch_finished"


class ConfigConflict(ConflictError):
    """Another change of the same config document landed at the same moment."""

    problem_code = "config_conflict"


class PreconditionFailed(PreconditionFailedError):
    """``If-Match`` named a version of the config document that is no longer current."""

    problem_code = "precondition_failed"


class PayloadTooLarge(PayloadTooLargeError):
    problem_code = "payload_too_large"


class URITooLong(URITooLongError):
    problem_code = "uri_too_long"


class UnsupportedMediaType(UnsupportedMediaTypeError):
    problem_code = "unsupported_media_type"


class RateLimited(RateLimitError):
    """Too many requests, still refused when the retry budget ran out."""

    problem_code = "rate_limited"


class HeadersTooLarge(HeadersTooLargeError):
    problem_code = "headers_too_large"


class InternalError(InternalServerError):
    problem_code = "internal_error"


class ServiceUnavailable(ServiceUnavailableError):
    problem_code = "service_unavailable"


def _subclasses(base: type[APIError]) -> list[type[APIError]]:
    found: list[type[APIError]] = []
    for child in base.__subclasses__():
        found += [child, *_subclasses(child)]
    return found


ERRORS_BY_CODE: dict[str, type[APIError]] = {
    cls.problem_code: cls for cls in _subclasses(APIError) if cls.problem_code is not None
}
ERRORS_BY_STATUS: dict[int, type[APIError]] = {
    cls.status_code: cls for cls in _subclasses(APIError) if cls.problem_code is None and cls.status_code is not None
}


def error_class(status: int, code: str | None) -> type[APIError]:
    """The class of an error answer: its code's, else its status's, else 5xx's or ``APIError``."""
    if code is not None and code in ERRORS_BY_CODE:
        return ERRORS_BY_CODE[code]
    if status in ERRORS_BY_STATUS:
        return ERRORS_BY_STATUS[status]
    return InternalServerError if status >= 500 else APIError


def error_from_response(response: httpx.Response, attempts: int = 1) -> APIError:
    """The exception for an error answer, read from its problem body (or from its status when it has none)."""
    problem = _problem(response)
    if problem is None:
        title = response.reason_phrase or "HTTP error"
        cls = error_class(response.status_code, None)
        return cls(
            status=response.status_code,
            code=None,
            title=title,
            detail=response.text[:500] or title,
            response=response,
            attempts=attempts,
        )
    cls = error_class(response.status_code, problem.code)
    return cls(
        status=response.status_code,
        code=problem.code,
        title=problem.title,
        detail=problem.detail,
        type=problem.type,
        instance=problem.instance,
        errors=problem.errors,
        response=response,
        attempts=attempts,
    )


def _problem(response: httpx.Response) -> Problem | None:
    try:
        body: Any = response.json()
        return Problem.model_validate(body)
    except (json.JSONDecodeError, UnicodeDecodeError, PydanticValidationError):
        return None
