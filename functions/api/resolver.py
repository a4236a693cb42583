"""The API's Powertools resolver, hardened against hostile input.

Powertools' request validation parses a body as JSON and catches only ``JSONDecodeError``; anything else a
client can send (deep nesting, huge integers, bytes that are not UTF-8, a multipart type without a boundary)
would reach the catch-all handler as a 500. This resolver accepts JSON bodies only (media types compared
case-insensitively), turns every parse failure into a request validation error, matches routes on the whole
path (``$`` would match before a trailing newline), and can tell a wrong method from an unknown path.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import types
from typing import Any, Union, get_args, get_origin

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.api_gateway import _DYNAMIC_ROUTE_PATTERN, _NAMED_GROUP_BOUNDARY_PATTERN
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import OpenAPIRequestValidationMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

JSON_MEDIA_TYPE = "application/json"
JSON_BODY_REQUIRED = "The request body must be application/json."


def media_type(content_type: str | None) -> str:
    """The media type of a ``Content-Type`` value, lower case and without parameters (RFC 9110: case-insensitive)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_json_body(body: str | bytes | None) -> Any:
    """The JSON value of a request body; any body that is not valid UTF-8 JSON is a request validation error."""
    if not body:
        return None
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise _invalid_body(f"JSON decode error: {error.msg}") from None
    except UnicodeDecodeError:
        raise _invalid_body("The body is not UTF-8.") from None
    except RecursionError:
        raise _invalid_body("The body is nested too deeply.") from None
    except ValueError:  # e.g. an integer longer than Python converts (sys.get_int_max_str_digits)
        raise _invalid_body("The body holds a number too large to read.") from None


def read_json_body(event: Any) -> Any:
    """The JSON value of ``event``'s body (base64-decoded when API Gateway encoded it); see ``parse_json_body``."""
    if not (event.is_base64_encoded and event.body):
        return parse_json_body(event.body)
    try:
        raw = base64.b64decode(event.body.encode(), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise _invalid_body("The body is not valid base64.") from None
    return parse_json_body(raw)


def _invalid_body(message: str) -> RequestValidationError:
    return RequestValidationError([{"type": "json_invalid", "loc": ("body",), "msg": message, "input": {}}])


# An integer query value as the document's `type: integer` means it: pydantic alone also reads `1.0`, `0050`,
# `+5` and ` 5`.
_DECIMAL_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")


def _is_integer(annotation: Any) -> bool:
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_is_integer(arg) for arg in get_args(annotation) if arg is not type(None))
    return annotation is int


def non_decimal_integers(route: Any, query: dict[str, Any]) -> list[dict[str, Any]]:
    """Validation errors for the integer query parameters of ``route`` not written as plain decimal digits."""
    issues = []
    for field in route.dependant.query_params:
        if not _is_integer(field.field_info.annotation) or query.get(field.alias) is None:
            continue
        raw = query[field.alias]
        for value in raw if isinstance(raw, list) else [raw]:
            if not _DECIMAL_INTEGER.fullmatch(str(value)):
                issues.append(
                    {
                        "type": "int_parsing",
                        "loc": ("query", field.alias),
                        "msg": "Input should be an integer in decimal digits, without sign, spaces or leading zeros",
                        "input": value,
                    }
                )
    return issues


class JsonBodyValidation(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, reading a body only as JSON and integer query values only as digits."""

    def handler(self, app: Any, next_middleware: Any) -> Any:
        query = app.current_event.resolved_query_string_parameters or {}
        issues = non_decimal_integers(app.context["_route"], query)
        if issues:
            raise RequestValidationError(issues)
        return super().handler(app, next_middleware)

    def _get_body(self, app: Any) -> Any:
        if media_type(app.current_event.headers.get("content-type")) != JSON_MEDIA_TYPE:
            raise RequestUnsupportedContentType(JSON_BODY_REQUIRED, errors=[])
        return read_json_body(app.current_event)


class HardenedRestResolver(APIGatewayRestResolver):
    """``APIGatewayRestResolver(enable_validation=True)`` with JSON-only bodies, whole-path routes and 405s."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(enable_validation=True, **kwargs)
        self._request_validation_middleware = JsonBodyValidation()  # type: ignore[no-untyped-call]  # Powertools: unannotated

    @staticmethod
    def _compile_regex(rule: str, base_regex: str = "") -> re.Pattern[str]:
        # Powertools anchors with "$", which also matches before a final newline: "/jobs/123\n" would be job 123.
        return re.compile(rf"\A{re.sub(_DYNAMIC_ROUTE_PATTERN, _NAMED_GROUP_BOUNDARY_PATTERN, rule)}/*\Z")

    def allowed_methods(self, path: str) -> list[str]:
        """The methods that have a route for ``path`` (empty: no route has this path)."""
        routes = self._static_routes + self._dynamic_routes
        return sorted({route.method for route in routes if route.rule.match(path)})
