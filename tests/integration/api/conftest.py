"""The API and authorizer handlers, called in-process with API Gateway-shaped events under moto."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from shared.access import Caller
from tests.support.events import FakeContext, api_event


@dataclass
class ApiReply:
    status: int
    body: Any
    headers: dict[str, str]


ApiCall = Callable[..., ApiReply]


@pytest.fixture
def api(aws: None) -> Iterator[ApiCall]:
    from functions.api import handler

    handler._service.cache_clear()
    handler.config_services.cache_clear()
    handler.batch_service.cache_clear()

    def call(
        method: str,
        path: str,
        caller: Caller | None,
        body: Any = None,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> ApiReply:
        event = api_event(method, path, caller, body, query)
        for name, value in (headers or {}).items():  # replace the event's defaults, e.g. its Content-Type
            event["headers"][name] = value
            event["multiValueHeaders"][name] = [value]
        response = handler.lambda_handler(event, FakeContext())  # type: ignore[arg-type]
        return ApiReply(
            status=response["statusCode"],
            body=json.loads(response["body"]) if response.get("body") else None,
            headers={key: values[-1] for key, values in (response.get("multiValueHeaders") or {}).items()}
            | (response.get("headers") or {}),
        )

    yield call
    handler._service.cache_clear()
    handler.config_services.cache_clear()
    handler.batch_service.cache_clear()
