"""A webhook receiver on loopback: what a customer's endpoint would do with the pipeline's signed results.

It checks ``X-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`` with its own code (not the
publisher's), answers 400 to a bad or stale signature (more than five minutes off), prints one line per delivery
and keeps the recent ones for tests.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SIGNATURE_HEADER = "X-Signature"
TOLERANCE_SECONDS = 300
_KEPT_DELIVERIES = 100
_MAX_BODY_BYTES = 1_000_000


@dataclass(frozen=True)
class Delivery:
    """One request the receiver got, and what it made of its signature ("ok" or why not)."""

    path: str
    body: bytes
    headers: dict[str, str]
    reason: str

    @property
    def signature_ok(self) -> bool:
        return self.reason == "ok"

    def json(self) -> Any:
        return json.loads(self.body)


def verify_signature(secret: str, header: str | None, body: bytes, now: float | None = None) -> str:
    """ "ok", or why ``header`` is not a valid, fresh signature of ``body`` with ``secret``."""
    if not header:
        return "missing signature"
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        parts.setdefault(name, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return "no timestamp"
    if abs((time.time() if now is None else now) - timestamp) > TOLERANCE_SECONDS:
        return "stale timestamp"
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", [])):
        return "signature mismatch"
    return "ok"


class WebhookReceiver:
    """An HTTP server on ``127.0.0.1`` (a free port unless told) that accepts signed POSTs on any path."""

    def __init__(self, secret: str, port: int = 0, *, output: Callable[[str], None] | None = None) -> None:
        self.secret = secret
        self.deliveries: deque[Delivery] = deque(maxlen=_KEPT_DELIVERIES)
        self._output = output or (lambda line: print(line, flush=True))
        self._condition = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-webhooks", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/webhooks/demo"

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def wait_for(self, count: int, timeout: float) -> list[Delivery]:
        """The deliveries once there are at least ``count`` of them, or what there is after ``timeout``."""
        with self._condition:
            self._condition.wait_for(lambda: len(self.deliveries) >= count, timeout=timeout)
            return list(self.deliveries)

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        if length > _MAX_BODY_BYTES:
            self._answer(request, 413, {"error": "payload too large"})
            return
        body = request.rfile.read(length)
        delivery = Delivery(
            request.path,
            body,
            dict(request.headers.items()),
            verify_signature(self.secret, request.headers.get(SIGNATURE_HEADER), body),
        )
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        about = payload if isinstance(payload, dict) else {}
        verdict = "received" if delivery.signature_ok else "REJECTED"
        reason = "signature ok" if delivery.signature_ok else delivery.reason
        self._output(f"webhook {verdict}: {_subject(about)} status {about.get('status')} ({reason})")
        with self._condition:
            self.deliveries.append(delivery)
            self._condition.notify_all()
        if delivery.signature_ok:
            self._answer(request, 200, {"received": True})
        else:
            self._answer(request, 400, {"error": delivery.reason})

    @staticmethod
    def _answer(request: BaseHTTPRequestHandler, status: int, document: dict[str, Any]) -> None:
        data = json.dumps(document).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)


def _subject(payload: dict[str, Any]) -> str:
    """What a delivery is about: a job's result, or another event (a requeue batch's end) by its name and id."""
    if "batch_id" in payload:
        return f"{payload.get('event')} {payload['batch_id']}"
    return f"job {payload.get('job_id')}"
