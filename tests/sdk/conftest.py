"""Fixtures of the client's tests: the local runtime (shared with tests/local), its demo keys, and fault injection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

# The local runtime's fixtures, reused as they are: a runtime per test module, seeded with demo data.
from tests.local.conftest import demo, runtime, template_path  # noqa: F401

_FAULT_CODES = {429: "rate_limited", 500: "internal_error", 503: "service_unavailable"}
Handler = Callable[[httpx.Request], httpx.Response]


def demo_key(demo: dict[str, Any], scope: str, index: int = 0) -> dict[str, Any]:  # noqa: F811 - not the fixture
    keys: list[dict[str, Any]] = [key for key in demo["api_keys"] if key["scope"] == scope]
    return keys[index]


def workspaces_of(demo: dict[str, Any], partner_id: str) -> list[str]:  # noqa: F811 - not the fixture
    organizations = {t["id"] for t in demo["tenants"] if t["kind"] == "organization" and t["parent_id"] == partner_id}
    return [t["id"] for t in demo["tenants"] if t["kind"] == "workspace" and t["parent_id"] in organizations]


class Faults(httpx.BaseTransport):
    """A transport that answers the first requests itself (``faults``: a status, or an exception to raise), then
    passes the rest to ``inner``; ``through`` sends a faulted request on to ``inner`` first (its answer is lost)."""

    def __init__(
        self,
        inner: httpx.BaseTransport,
        faults: list[int | Exception],
        *,
        headers: dict[str, str] | None = None,
        through: bool = False,
    ) -> None:
        self.inner = inner
        self.faults = list(faults)
        self.headers = headers or {}
        self.through = through
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.faults:
            return self.inner.handle_request(request)
        fault = self.faults.pop(0)
        if self.through:
            self.inner.handle_request(request).close()
        if isinstance(fault, Exception):
            raise fault
        code = _FAULT_CODES.get(fault)
        if code is None:  # what a proxy in front of the API would answer: no problem body
            return httpx.Response(fault, text="Bad Gateway", headers=self.headers)
        body = {"type": "about:blank", "title": "fault", "status": fault, "detail": "injected fault", "code": code}
        return httpx.Response(fault, json=body, headers=self.headers)


class Sleeps:
    """A sleep function that records what it was asked to wait instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()
