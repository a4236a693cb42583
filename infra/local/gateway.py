"""A WSGI stand-in for API Gateway (REST): the OpenAPI document's routes, then the template's REQUEST authorizer
(uncached) and the API function with a proxy event. Errors API Gateway raises itself are rendered from the
template's gateway responses, so local error bodies are the deployed ones."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from infra.local.functions import FunctionHost
from infra.local.limits import MAX_PAYLOAD_BYTES
from infra.local.routing import Route, RouteMatch, match_route
from infra.local.template import ACCOUNT_ID, REGION, AppTemplate
from shared.problems import PROBLEM_CONTENT_TYPE, problem

logger = logging.getLogger("infra.local.gateway")

API_ID = "localapi"
DOCS_NAME = "docs"  # Swagger UI, served beside the OpenAPI document (local only)
_MESSAGE_VARIABLE = "$context.error.messageString"

# API Gateway's own status and message for each gateway response type it raises here.
_DEFAULTS: dict[str, tuple[int, str]] = {
    "ACCESS_DENIED": (403, "User is not authorized to access this resource with an explicit deny"),
    "AUTHORIZER_FAILURE": (500, "Authorizer failure"),
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long"),
    "UNAUTHORIZED": (401, "Unauthorized"),
    "DEFAULT_5XX": (500, "Internal server error"),
}


class _ApiRequest(Request):
    max_content_length = MAX_PAYLOAD_BYTES + 1  # werkzeug reads a chunked body up to it: one byte over is too large


class GatewayError(Exception):
    """API Gateway refuses the request itself with the gateway response named by the message."""


class Gateway:
    def __init__(self, template: AppTemplate, functions: FunctionHost, routes: Iterable[Route]) -> None:
        self._template = template
        self._functions = functions
        self.routes = tuple(routes)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request, request_id = _ApiRequest(environ), str(uuid.uuid4())
        try:
            response = self._handle(request, request_id)
        except GatewayError as error:
            response = self.gateway_response(str(error))
        except Exception:
            logger.exception("the local gateway failed on %s %s", request.method, request.path)
            response = self.gateway_response("DEFAULT_5XX")
        response.headers["x-amzn-RequestId"] = request_id
        return response(environ, start_response)

    def _handle(self, request: Request, request_id: str) -> Response:
        try:
            body = request.get_data()
        except RequestEntityTooLarge:  # a declared length over the limit
            raise GatewayError("REQUEST_TOO_LARGE") from None
        if len(body) > MAX_PAYLOAD_BYTES:
            raise GatewayError("REQUEST_TOO_LARGE")
        found = match_route(self.routes, request.method.upper(), request.path)
        if found is None:  # as API Gateway answers an unknown path
            raise GatewayError("MISSING_AUTHENTICATION_TOKEN")
        if found.route is None:  # the path's ANY method in the stack: a 405 naming the path's methods
            detail = f"This path answers {', '.join(found.allowed)} only."
            payload = problem("method_not_allowed", detail).model_dump_json(exclude_none=True)
            headers = {"Allow": ", ".join(found.allowed), "Content-Type": PROBLEM_CONTENT_TYPE}
            return Response(payload, status=405, headers=headers)
        event = proxy_event(request, found, request_id, body, self._template.stage_name)
        if not found.route.public:
            event["requestContext"]["authorizer"] = self._authorize(request, event)
        try:
            result = self._functions.invoke(self._template.api_function_id, event)
        except Exception:
            logger.exception("function %s failed", self._template.api_function_id)
            raise GatewayError("DEFAULT_5XX") from None
        return proxy_response(result)

    def _authorize(self, request: Request, event: dict[str, Any]) -> dict[str, Any]:
        authorizer = self._template.authorizer
        if not request.headers.get(authorizer.header):  # refused before the function, as with caching on
            raise GatewayError("UNAUTHORIZED")
        resource = f"{self._template.stage_name}/{request.method.upper()}/{request.path.lstrip('/')}"
        method_arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{API_ID}/{resource}"
        try:
            result = self._functions.invoke(
                authorizer.function_id, {"type": "REQUEST", "methodArn": method_arn, **event}
            )
        except Exception as error:
            if str(error) == "Unauthorized":
                raise GatewayError("UNAUTHORIZED") from None
            logger.exception("authorizer %s failed", authorizer.logical_id)
            raise GatewayError("AUTHORIZER_FAILURE") from None
        statements = result.get("policyDocument", {}).get("Statement", []) if isinstance(result, dict) else []
        effects = {statement.get("Effect") for statement in statements}
        if "principalId" not in result or "Deny" in effects or "Allow" not in effects:
            raise GatewayError("ACCESS_DENIED")
        # API Gateway hands the authorizer's context to a REST proxy integration as strings.
        context = {
            name: ("true" if value else "false") if isinstance(value, bool) else str(value)
            for name, value in (result.get("context") or {}).items()
        }
        return {**context, "principalId": str(result["principalId"])}

    def gateway_response(self, response_type: str) -> Response:
        """The template's gateway response for ``response_type``, or its DEFAULT_4XX / DEFAULT_5XX."""
        default_status, message = _DEFAULTS.get(response_type, _DEFAULTS["DEFAULT_5XX"])
        responses = self._template.gateway_responses
        fallback = "DEFAULT_4XX" if default_status < 500 else "DEFAULT_5XX"
        definition = responses.get(response_type) or responses.get(fallback)
        if definition is None:
            raise ValueError(f"the template has no gateway response for {response_type} nor a default one")
        status = definition.status_code or default_status
        body = definition.template.replace(_MESSAGE_VARIABLE, json.dumps(message))
        return Response(body, status=status, headers=dict(definition.headers))


def proxy_event(request: Request, found: RouteMatch, request_id: str, raw: bytes, stage: str) -> dict[str, Any]:
    """The REST API (payload format 1.0) proxy event."""
    multi_headers = {name: request.headers.getlist(name) for name in request.headers.keys()}  # noqa: SIM118 - Headers iterate as pairs
    query = request.args.to_dict(flat=False)
    started = datetime.now(UTC)
    try:
        body, encoded = (raw.decode("utf-8") if raw else None), False
    except UnicodeDecodeError:
        body, encoded = base64.b64encode(raw).decode(), True
    return {
        "resource": found.path,
        "path": request.path,
        "httpMethod": request.method.upper(),
        "headers": dict(request.headers.items()) or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {name: values[-1] for name, values in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": found.path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": request.host,
            "httpMethod": request.method.upper(),
            "identity": {
                "sourceIp": request.remote_addr or "127.0.0.1",
                "userAgent": request.user_agent.string or None,
            },
            "path": request.path,
            "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "requestId": request_id,
            "requestTime": started.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(started.timestamp() * 1000),
            "resourcePath": found.path,
            "stage": stage,
        },
        "body": body,
        "isBase64Encoded": encoded,
    }


def proxy_response(result: Any) -> Response:
    """The HTTP response for a proxy function's result; a malformed one is a 5xx as in API Gateway."""
    if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
        logger.error("malformed Lambda proxy response: %r", result)
        raise GatewayError("DEFAULT_5XX")
    body = result.get("body") or ""
    try:
        payload = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    except (binascii.Error, ValueError):
        raise GatewayError("DEFAULT_5XX") from None
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
    return response


def _swagger_page(document: dict[str, Any]) -> Any:
    """Swagger UI (Powertools' bundled assets, no CDN) over the API's own OpenAPI document."""
    from aws_lambda_powertools.event_handler import Response
    from aws_lambda_powertools.event_handler.openapi import swagger_ui

    assets = Path(swagger_ui.__file__).parent
    html = swagger_ui.generate_swagger_html(
        json.dumps(document).replace("</", "<\\/"),
        (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        (assets / "swagger-ui.min.css").read_text(encoding="utf-8"),
        swagger_base_url="",
        oauth2_config=None,
        persist_authorization=True,
    )
    return Response(status_code=200, content_type="text/html", body=html)


def enable_swagger(routes: tuple[Route, ...], module: ModuleType) -> Route:
    """Serve Swagger UI from the API function's resolver, next to its OpenAPI document (local only)."""
    spec_path = next(route.path for route in routes if route.path.endswith("/openapi.json"))
    path = f"{spec_path.rpartition('/')[0]}/{DOCS_NAME}"
    # A warm module (tests start the runtime more than once per process) already serves the page.
    if path not in getattr(module, "_local_swagger_paths", set()):
        module.app.get(path, include_in_schema=False)(lambda: _swagger_page(module.openapi_document()))
        module._local_swagger_paths = {*getattr(module, "_local_swagger_paths", set()), path}  # type: ignore[attr-defined]
    return Route(method="GET", path=path, public=True)
