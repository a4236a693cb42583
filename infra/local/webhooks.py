"""A webhook receiver on loopback: what a customer's endpoint would do with the pipeline's signed results.

It checks ``X-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`` with its own code (not the
publisher's), answers 400 to a bad or stale signature (older or newer than five minutes), prints one line per
delivery and keeps the recent ones for tests.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

logger = logging.getLogger("infra.local.webhooks")

SIGNATURE_HEADER = "X-Signature"
TOLERANCE_SECONDS = 300
_KEPT_DELIVERIES = 100
_MAX_BODY_BYTES = 1_000_000


@dataclass(frozen=True)
class Delivery:
    """One request the receiver got, and what it made of it."""

    path: str
    body: bytes
    headers: dict[str, str]
    signature_ok: bool
    reason: str  # "ok" or why the signature was refused
    received_at: float = field(default_factory=time.time)

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


def describe(payload: Any) -> tuple[str | None, str | None]:
    """The job id and status a delivery is about, wherever the payload keeps them."""
    if not isinstance(payload, dict):
        return None, None
    candidates = [payload, *(payload.get(key) for key in ("job", "detail", "data", "result"))]
    job_id = status = None
    for candidate in candidates:
        if isinstance(candidate, dict):
            job_id = job_id or candidate.get("job_id")
            status = status or candidate.get("status")
    return (str(job_id) if job_id is not None else None), (str(status) if status is not None else None)


class WebhookReceiver:
    """An HTTP server on ``127.0.0.1`` (a free port unless told) that accepts signed POSTs on any path."""

    def __init__(
        self, secret: str, port: int = 0, *, output: Callable[[str], None] | None = None, host: str = "127.0.0.1"
    ) -> None:
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

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-webhooks", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/webhooks/demo"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

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
        reason = verify_signature(self.secret, request.headers.get(SIGNATURE_HEADER), body)
        delivery = Delivery(
            path=request.path,
            body=body,
            headers=dict(request.headers.items()),
            signature_ok=reason == "ok",
            reason=reason,
        )
        try:
            job_id, status = describe(json.loads(body))
        except ValueError:
            job_id, status = None, None
        if delivery.signature_ok:
            self._output(f"webhook received: job {job_id} status {status} (signature ok)")
        else:
            self._output(f"webhook REJECTED: job {job_id} status {status} ({reason})")
        with self._condition:
            self.deliveries.append(delivery)
            self._condition.notify_all()
        if delivery.signature_ok:
            self._answer(request, 200, {"received": True})
        else:
            self._answer(request, 400, {"error": reason})

    @staticmethod
    def _answer(request: BaseHTTPRequestHandler, status: int, document: dict[str, Any]) -> None:
        data = json.dumps(document).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
