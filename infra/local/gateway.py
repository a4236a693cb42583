"""A WSGI stand-in for API Gateway (REST): the template's routes, authorizers and gateway responses.

Per request: match a method of the template (else ``MISSING_AUTHENTICATION_TOKEN``, as API Gateway answers
unknown routes), run its Lambda authorizer (REQUEST or TOKEN, results cached per identity for the template's
TTL, the returned policy checked against the method ARN), then invoke the proxied function with a REST proxy
event and translate its result. Every error API Gateway would raise itself is rendered from the template's
gateway responses, so local error bodies are the deployed ones.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from infra.local.functions import FunctionHost
from infra.local.limits import MAX_PAYLOAD_BYTES, PayloadTooLarge, read_body
from infra.local.routing import RouteMatch, match_route, policy_allows
from infra.local.template import ACCOUNT_ID, REGION, AppTemplate, AuthorizerDef, GatewayResponseDef, Route
from shared.problems import PROBLEM_CONTENT_TYPE, problem

logger = logging.getLogger("infra.local.gateway")

API_ID = "localapi"

# API Gateway's own status and message for each gateway response type it raises here.
_DEFAULTS: dict[str, tuple[int, str]] = {
    "ACCESS_DENIED": (403, "User is not authorized to access this resource with an explicit deny"),
    "AUTHORIZER_CONFIGURATION_ERROR": (500, "Authorizer configuration error"),
    "AUTHORIZER_FAILURE": (500, "Authorizer failure"),
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long"),
    "UNAUTHORIZED": (401, "Unauthorized"),
    "INTEGRATION_FAILURE": (502, "Internal server error"),
}
# Problem codes for a gateway response the template does not define (API Gateway would send {"message"}).
_FALLBACK_CODES = {401: "unauthorized", 403: "forbidden", 404: "route_not_found", 413: "payload_too_large"}
_CONTEXT_VARIABLE = re.compile(r"\$!?\{?context\.([A-Za-z0-9_.]+)\}?")


class GatewayError(Exception):
    """API Gateway refuses the request itself with the gateway response of ``response_type``."""

    def __init__(self, response_type: str, message: str | None = None) -> None:
        super().__init__(response_type)
        self.response_type = response_type
        self.message = message or _DEFAULTS.get(response_type, (500, "Internal server error"))[1]


@dataclass(frozen=True)
class _CachedDecision:
    expires: float
    principal_id: str
    policy: Mapping[str, Any]
    context: Mapping[str, Any]


class Gateway:
    """The WSGI application serving one REST API of the template."""

    def __init__(self, template: AppTemplate, functions: FunctionHost, extra_routes: Iterable[Route] = ()) -> None:
        self._template = template
        self._functions = functions
        self._routes = (*template.routes, *extra_routes)
        self._cache: dict[tuple[str, tuple[str, ...]], _CachedDecision] = {}
        self._cache_lock = threading.Lock()

    @property
    def routes(self) -> tuple[Route, ...]:
        return self._routes

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        response = self.handle(request)
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        context = _RequestContext(request, self._template.stage_name)
        try:
            return self._handle(request, context)
        except GatewayError as error:
            return self.gateway_response(error, context)
        except Exception:
            logger.exception("the local gateway failed on %s %s", request.method, request.path)
            return self.gateway_response(GatewayError("DEFAULT_5XX", "Internal server error"), context, status=500)

    def _handle(self, request: Request, context: _RequestContext) -> Response:
        if (request.content_length or 0) > MAX_PAYLOAD_BYTES:
            raise GatewayError("REQUEST_TOO_LARGE")
        try:
            body = read_body(request.stream)  # a chunked body has no declared length: count it
        except PayloadTooLarge:
            raise GatewayError("REQUEST_TOO_LARGE") from None
        found = match_route(self._routes, request.method.upper(), request.path)
        if found is None:
            raise GatewayError("MISSING_AUTHENTICATION_TOKEN")
        context.route = found.route
        if found.route.integration == "MOCK":
            return Response(
                found.route.mock_body, status=found.route.mock_status, headers=dict(found.route.mock_headers)
            )
        authorizer_context: dict[str, Any] | None = None
        if found.route.authorizer_id:
            authorizer = self._template.authorizers[found.route.authorizer_id]
            authorizer_context = self._authorize(authorizer, request, found, context)
            context.authorizer = authorizer_context
        event = proxy_event(request, found, context, authorizer_context, body)
        assert found.route.function_id is not None  # AWS_PROXY routes always name their function
        try:
            result = self._functions.invoke(found.route.function_id, event)
        except Exception:
            logger.exception("function %s failed", found.route.function_id)
            raise GatewayError("DEFAULT_5XX", "Internal server error") from None
        return proxy_response(result, context)

    def _authorize(
        self, authorizer: AuthorizerDef, request: Request, found: RouteMatch, context: _RequestContext
    ) -> dict[str, Any]:
        identity = []
        for source in authorizer.identity_sources:
            value = _header(request, source.name) if source.location == "header" else request.args.get(source.name)
            identity.append(value or "")
        # With caching on, API Gateway refuses a request without its identity sources before calling the function.
        if authorizer.ttl_seconds > 0 and not all(identity):
            raise GatewayError("UNAUTHORIZED")
        key = (authorizer.logical_id, tuple(identity))
        now = time.monotonic()
        with self._cache_lock:
            decision = self._cache.get(key)
        if decision is None or decision.expires <= now:
            started = time.monotonic()
            decision = self._invoke_authorizer(authorizer, request, found, context, now)
            context.authorizer_latency_ms = int((time.monotonic() - started) * 1000)
            if authorizer.ttl_seconds > 0:
                with self._cache_lock:
                    self._cache[key] = decision
        if not policy_allows(decision.policy, context.method_arn):
            raise GatewayError("ACCESS_DENIED")
        return {
            **{name: _context_value(value) for name, value in decision.context.items()},
            "principalId": decision.principal_id,
            "integrationLatency": context.authorizer_latency_ms,
        }

    def _invoke_authorizer(
        self, authorizer: AuthorizerDef, request: Request, found: RouteMatch, context: _RequestContext, now: float
    ) -> _CachedDecision:
        if authorizer.type == "TOKEN":
            source = authorizer.identity_sources[0] if authorizer.identity_sources else None
            token = _header(request, source.name) if source else None
            event: dict[str, Any] = {"type": "TOKEN", "authorizationToken": token, "methodArn": context.method_arn}
        else:
            event = {"type": "REQUEST", "methodArn": context.method_arn, **_request_fields(request, found, context)}
        try:
            result = self._functions.invoke(authorizer.function_id, event)
        except Exception as error:
            if str(error) == "Unauthorized":
                raise GatewayError("UNAUTHORIZED") from None
            logger.exception("authorizer %s failed", authorizer.logical_id)
            raise GatewayError("AUTHORIZER_FAILURE") from None
        if not isinstance(result, dict) or "principalId" not in result or "policyDocument" not in result:
            logger.error("authorizer %s returned no principalId and policyDocument", authorizer.logical_id)
            raise GatewayError("AUTHORIZER_CONFIGURATION_ERROR")
        return _CachedDecision(
            expires=now + authorizer.ttl_seconds,
            principal_id=str(result["principalId"]),
            policy=result["policyDocument"],
            context=result.get("context") or {},
        )

    def gateway_response(self, error: GatewayError, context: _RequestContext, status: int | None = None) -> Response:
        """The template's gateway response for ``error`` (falling back to DEFAULT_4XX / DEFAULT_5XX)."""
        default_status = status or _DEFAULTS.get(error.response_type, (502, ""))[0]
        family = "DEFAULT_4XX" if default_status < 500 else "DEFAULT_5XX"
        responses = self._template.gateway_responses
        definition = responses.get(error.response_type) or responses.get(family)
        context.error_message = error.message
        context.error_type = error.response_type
        headers = {"x-amzn-RequestId": context.request_id, "x-amzn-ErrorType": _error_type_header(error)}
        if definition is None:
            return _fallback_problem(default_status, error.message, context, headers)
        specific = definition.response_type == error.response_type
        status_code = definition.status_code if specific and definition.status_code else default_status
        body = render_template(_pick_template(definition), context.variables())
        headers["Content-Type"] = "application/json"
        headers.update(_mapped_headers(definition, context))
        return Response(body, status=status_code, headers=headers)


def _error_type_header(error: GatewayError) -> str:
    return {
        "UNAUTHORIZED": "UnauthorizedException",
        "ACCESS_DENIED": "AccessDeniedException",
        "MISSING_AUTHENTICATION_TOKEN": "MissingAuthenticationTokenException",
    }.get(error.response_type, "InternalServerErrorException")


def _fallback_problem(status: int, message: str, context: _RequestContext, headers: dict[str, str]) -> Response:
    code = _FALLBACK_CODES.get(status, "internal_error" if status >= 500 else "forbidden")
    body = problem(code, message, instance=context.path).model_copy(update={"status": status})
    headers["Content-Type"] = PROBLEM_CONTENT_TYPE
    return Response(body.model_dump_json(exclude_none=True), status=status, headers=headers)


def _pick_template(definition: GatewayResponseDef) -> str:
    if "application/json" in definition.templates:
        return definition.templates["application/json"]
    return next(iter(definition.templates.values()), '{"message":$context.error.messageString}')


def _mapped_headers(definition: GatewayResponseDef, context: _RequestContext) -> dict[str, str]:
    headers = {}
    for name, expression in definition.headers.items():
        if expression.startswith("'") and expression.endswith("'"):
            headers[name] = expression[1:-1]
        elif expression.startswith("method.request.header."):
            value = _header(context.request, expression.removeprefix("method.request.header."))
            if value is not None:
                headers[name] = value
    return headers


def render_template(template: str, variables: Mapping[str, str]) -> str:
    """Substitute ``$context.*`` variables (unknown ones render empty, as in API Gateway)."""
    return _CONTEXT_VARIABLE.sub(lambda match: variables.get(match.group(1), ""), template)


class _RequestContext:
    """Per-request facts API Gateway exposes as ``$context`` and in ``requestContext``."""

    def __init__(self, request: Request, stage: str) -> None:
        self.request = request
        self.stage = stage
        self.request_id = str(uuid.uuid4())
        self.extended_request_id = base64.b32encode(uuid.uuid4().bytes[:10]).decode().rstrip("=")
        self.started = datetime.now(UTC)
        self.path = request.path
        self.route: Route | None = None
        self.authorizer: dict[str, Any] | None = None
        self.authorizer_latency_ms = 0
        self.error_message = ""
        self.error_type = ""

    @property
    def method_arn(self) -> str:
        resource = self.request.path.lstrip("/")
        return (
            f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{API_ID}/{self.stage}/{self.request.method.upper()}/{resource}"
        )

    def request_context(self) -> dict[str, Any]:
        epoch_ms = int(self.started.timestamp() * 1000)
        return {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": self.request.host,
            "domainPrefix": self.request.host.split(".")[0],
            "extendedRequestId": self.extended_request_id,
            "httpMethod": self.request.method.upper(),
            "identity": {
                "sourceIp": self.request.remote_addr or "127.0.0.1",
                "userAgent": self.request.user_agent.string or None,
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "user": None,
                "userArn": None,
            },
            "path": self.path,
            "protocol": self.request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "requestId": self.request_id,
            "requestTime": self.started.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": epoch_ms,
            "resourceId": self.route.path if self.route else None,
            "resourcePath": self.route.path if self.route else None,
            "stage": self.stage,
        }

    def variables(self) -> dict[str, str]:
        """``$context`` variables for gateway response templates."""
        values = {
            "path": self.path,
            "resourcePath": self.route.path if self.route else "",
            "httpMethod": self.request.method.upper(),
            "requestId": self.request_id,
            "extendedRequestId": self.extended_request_id,
            "stage": self.stage,
            "apiId": API_ID,
            "accountId": ACCOUNT_ID,
            "domainName": self.request.host,
            "requestTime": self.started.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": str(int(self.started.timestamp() * 1000)),
            "identity.sourceIp": self.request.remote_addr or "127.0.0.1",
            "error.message": self.error_message,
            "error.messageString": json.dumps(self.error_message),
            "error.responseType": self.error_type,
        }
        for name, value in (self.authorizer or {}).items():
            values[f"authorizer.{name}"] = str(value)
        return values


def _header(request: Request, name: str) -> str | None:
    return request.headers.get(name)


def _context_value(value: Any) -> str:
    # API Gateway hands authorizer context values to a REST proxy integration as strings.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _request_fields(request: Request, found: RouteMatch, context: _RequestContext) -> dict[str, Any]:
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    query = request.args.to_dict(flat=False)
    return {
        "resource": found.route.path,
        "path": request.path,
        "httpMethod": request.method.upper(),
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {name: values[-1] for name, values in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": found.path_parameters or None,
        "stageVariables": None,
        "requestContext": context.request_context(),
    }


def proxy_event(
    request: Request,
    found: RouteMatch,
    context: _RequestContext,
    authorizer: dict[str, Any] | None,
    raw: bytes | None = None,
) -> dict[str, Any]:
    """The REST API (payload format 1.0) proxy event API Gateway sends to the integration function."""
    event = _request_fields(request, found, context)
    if authorizer is not None:
        event["requestContext"]["authorizer"] = authorizer
    if raw is None:
        raw = request.get_data(cache=False)
    try:
        body, encoded = (raw.decode("utf-8"), False) if raw else (None, False)
    except UnicodeDecodeError:
        body, encoded = base64.b64encode(raw).decode(), True
    event["body"] = body
    event["isBase64Encoded"] = encoded
    return event


def proxy_response(result: Any, context: _RequestContext) -> Response:
    """The HTTP response for a proxy function's result; a malformed result is a 502 as in API Gateway."""
    if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
        logger.error("malformed Lambda proxy response: %r", result)
        raise GatewayError("DEFAULT_5XX", "Internal server error")
    body = result.get("body") or ""
    try:
        payload = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    except (binascii.Error, ValueError):
        raise GatewayError("DEFAULT_5XX", "Internal server error") from None
    response = Response(payload, status=result["statusCode"])
    response.headers.pop("Content-Type", None)
    for name, value in (result.get("headers") or {}).items():
        response.headers[name] = str(value)
    for name, values in (result.get("multiValueHeaders") or {}).items():
        response.headers.pop(name, None)
        for value in values:
            response.headers.add(name, str(value))
    if "Content-Type" not in response.headers:
        response.headers["Content-Type"] = "application/json"
    response.headers["x-amzn-RequestId"] = context.request_id
    return response
