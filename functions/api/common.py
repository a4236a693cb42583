"""What every route of the API shares: the caller, problem answers, their OpenAPI descriptions and cursors."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

from shared.access import Caller
from shared.aws import client
from shared.jobs.cursor import CursorCodec
from shared.problems import PROBLEM_CONTENT_TYPE, Problem, ValidationIssue, problem
from shared.settings import ApiSettings

PROBLEM_DESCRIPTIONS = {
    400: "Invalid request",
    401: "Missing, unknown or revoked API key",
    403: "No access to the workspace",
    404: "No such job, or no route for this path",
    405: "This path has no route for the method; `Allow` lists those it has",
    409: "The document kept changing under concurrent writers; retry",
    412: "If-Match is not the current version",
    413: "The request is larger than 10 MB",
    414: "The request URI is too long",
    415: "The request body is not application/json",
    429: "Too many requests",
    500: "Internal server error",
    503: "The service did not answer in time",
}
# What any request may get before or besides its route's own answers (from API Gateway or the function); 404:
# a path whose ids hold characters no route accepts matches no route.
ANY_ROUTE = (404, 405, 413, 414, 429, 500, 503)


def problem_responses(
    *statuses: int, public: bool = False, descriptions: dict[int, str] | None = None
) -> dict[int, Any]:
    """OpenAPI responses for ``statuses``, those every route may answer, and 401 unless ``public``.

    ``descriptions`` replaces the default description of some statuses (``{403: "..."}``).
    """
    every = sorted({*statuses, *ANY_ROUTE, *(() if public else (401,))})
    return {
        status: {
            "description": (descriptions or {}).get(status, PROBLEM_DESCRIPTIONS[status]),
            "content": {PROBLEM_CONTENT_TYPE: {"model": Problem}},
        }
        for status in every
    }


def problem_response(
    event: BaseProxyEvent, code: str, detail: str, issues: list[ValidationIssue] | None = None
) -> Response[str]:
    """The problem-details answer for ``code`` (status and title from the catalogue) to ``event``."""
    body = problem(code, detail, instance=event.path, errors=issues)
    return Response(
        status_code=body.status, content_type=PROBLEM_CONTENT_TYPE, body=body.model_dump_json(exclude_none=True)
    )


def caller_of(event: BaseProxyEvent) -> Caller:
    """The API key the authorizer resolved for this request."""
    context = event.raw_event.get("requestContext", {}).get("authorizer") or {}
    return Caller.model_validate(context)


def cursor_codec(settings: ApiSettings) -> Callable[[], CursorCodec]:
    """The cursor codec, built on first use: only paged routes need the signing secret."""

    @cache
    def cursors() -> CursorCodec:
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        secrets = SecretsProvider(boto3_client=client("secretsmanager"))
        return CursorCodec(str(secrets.get(settings.cursor_secret_arn, max_age=3600)).encode())

    return cursors
