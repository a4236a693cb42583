"""The catalogue of API problems (RFC 9457 problem details): each stable code with its status and title.

The API's exception handlers and API Gateway's own gateway responses (401, 403, 429, 5xx raised before a
function runs) are both built from this catalogue, so every error a client sees has the same shape.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://analytics-api.gensail.com/problems/"

# code -> (HTTP status, title)
PROBLEMS: dict[str, tuple[int, str]] = {
    "validation_error": (400, "Request validation failed"),
    "invalid_status": (400, "Invalid status"),
    "job_not_skipped": (400, "Job is not skipped"),
    "invalid_cursor": (400, "Invalid cursor"),
    "workspace_required": (400, "Workspace required"),
    "unauthorized": (401, "Unauthorized"),
    "forbidden": (403, "Forbidden"),
    "setting_not_writable": (403, "Setting not writable"),
    "job_not_found": (404, "Job not found"),
    "batch_not_found": (404, "Requeue batch not found"),
    "route_not_found": (404, "Not found"),
    "method_not_allowed": (405, "Method not allowed"),
    "config_conflict": (409, "Concurrent change"),
    "batch_in_progress": (409, "Requeue batch in progress"),
    "batch_finished": (409, "Requeue batch finished"),
    "idempotency_key_reused": (409, "Idempotency key reused"),
    "idempotency_key_in_use": (409, "Idempotency key in use"),
    "precondition_failed": (412, "Precondition failed"),
    "payload_too_large": (413, "Payload too large"),
    "uri_too_long": (414, "URI too long"),
    "unsupported_media_type": (415, "Unsupported media type"),
    "rate_limited": (429, "Too many requests"),
    "headers_too_large": (431, "Request header fields too large"),
    "internal_error": (500, "Internal server error"),
    "service_unavailable": (503, "Service unavailable"),
}


class ValidationIssue(BaseModel):
    """One failed check of the request, with where it failed."""

    location: str = Field(description="Dotted location, e.g. 'body.status' or 'query.limit'.")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details with a stable machine-readable ``code``."""

    type: str = Field(description="URI identifying the problem type.")
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable machine-readable error code.")
    instance: str | None = Field(default=None, description="The request path.")
    errors: list[ValidationIssue] | None = Field(default=None, description="Each failed check (validation only).")


def problem(
    code: str, detail: str, instance: str | None = None, errors: list[ValidationIssue] | None = None
) -> Problem:
    status, title = PROBLEMS[code]
    return Problem(
        type=PROBLEM_TYPE_BASE + code,
        title=title,
        status=status,
        detail=detail,
        code=code,
        instance=instance,
        errors=errors,
    )


def problem_body(code: str, detail: str, instance: str | None = None, **extra: Any) -> str:
    return problem(code, detail, instance, **extra).model_dump_json(exclude_none=True)
