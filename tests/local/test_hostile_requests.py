"""The local gateway under hostile requests: the same answers as the deployed API, never a hang or a 500."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from infra.local.limits import MAX_PAYLOAD_BYTES
from infra.local.runtime import LocalRuntime

pytestmark = pytest.mark.slow


def _bearer(demo: dict[str, Any], scope: str = "workspace") -> dict[str, str]:
    key = next(key for key in demo["api_keys"] if key["scope"] == scope)
    return {"Authorization": f"Bearer {key['key']}"}


def test_a_wrong_method_is_a_405_with_allow_without_a_key(api: httpx.Client) -> None:
    # The template's ANY mock answers it, as API Gateway would: no key is needed to learn the methods.
    response = api.delete("/api/v1/jobs/123/status")

    assert response.status_code == 405
    assert response.headers["allow"] == "PATCH"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "method_not_allowed"


def test_a_forged_path_cannot_change_the_gateway_s_problem(api: httpx.Client) -> None:
    forged = api.get("/api/v1/nope%22,%22status%22:200,%22code%22:%22ok")
    backslash = api.get("/api/v1/nope\\x")

    for response in (forged, backslash):
        assert response.status_code == 404
        assert (response.json()["status"], response.json()["code"]) == (404, "route_not_found")


def test_a_job_id_with_a_trailing_newline_is_not_the_job(api: httpx.Client, demo: dict[str, Any]) -> None:
    listed = api.get("/api/v1/jobs", params={"limit": 1}, headers=_bearer(demo)).json()["jobs"][0]

    response = api.get(f"/api/v1/jobs/{listed['job_id']}%0A", headers=_bearer(demo))

    assert response.status_code == 404
    assert response.json()["code"] == "route_not_found"


def _chunks(total: int, size: int = 1024 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


def test_a_chunked_body_over_10_mb_is_a_413(api: httpx.Client, demo: dict[str, Any]) -> None:
    # A generator body goes out chunked: no Content-Length for the gateway to check up front.
    response = api.patch(
        "/api/v1/jobs/1/status",
        content=_chunks(MAX_PAYLOAD_BYTES + 1),
        headers={**_bearer(demo), "Content-Type": "application/json"},
    )

    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


def test_a_chunked_body_within_the_limit_reaches_the_function(api: httpx.Client, demo: dict[str, Any]) -> None:
    response = api.patch(
        "/api/v1/jobs/1/status",
        content=iter([b'{"status":', b' "queued"}']),
        headers={**_bearer(demo), "Content-Type": "application/json"},
    )

    assert response.status_code == 404
    assert response.json()["code"] == "job_not_found"


def test_a_100_kb_url_is_a_414_problem(runtime: LocalRuntime) -> None:
    # http.client: httpx refuses to send a URL this long
    connection = http.client.HTTPConnection(urlsplit(runtime.api_url).netloc, timeout=30)
    try:
        connection.request("GET", "/api/v1/jobs?cursor=" + "x" * 100_000)
        response = connection.getresponse()
        body = json.loads(response.read())
    finally:
        connection.close()

    assert response.status == 414
    assert response.getheader("Content-Type") == "application/problem+json"
    assert (body["status"], body["code"]) == (414, "uri_too_long")


def test_a_running_background_function_does_not_hold_up_the_api(
    runtime: LocalRuntime, api: httpx.Client, demo: dict[str, Any]
) -> None:
    # Given the stream worker busy in a long invocation
    functions = runtime._functions
    (worker_id,) = [fid for fid in runtime.template.functions if fid.startswith("FunctionsWorker")]
    started, release = threading.Event(), threading.Event()

    def busy_worker(event: dict[str, Any], context: Any) -> None:
        started.set()
        release.wait(60)

    real = functions.handler(worker_id)
    functions._handlers[worker_id] = busy_worker
    background = threading.Thread(target=functions.invoke, args=(worker_id, {"Records": []}))
    background.start()
    try:
        assert started.wait(10)
        # When a client calls the API meanwhile, then it is answered while the worker still runs
        response = api.get("/api/v1/jobs", params={"limit": 1}, headers=_bearer(demo), timeout=30)
        assert response.status_code == 200
        assert background.is_alive()
    finally:
        release.set()
        background.join(10)
        functions._handlers[worker_id] = real
