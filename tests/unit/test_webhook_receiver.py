"""The loopback webhook receiver (infra/sample/webhooks.py): its own signature check, and what it answers."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest

from infra.sample.webhooks import WebhookReceiver, verify_signature


def _signed(secret: str, body: bytes, at: int) -> str:
    return f"t={at},v1={hmac.new(secret.encode(), f'{at}.'.encode() + body, hashlib.sha256).hexdigest()}"


def test_signature_check() -> None:
    body = b'{"job_id": "1"}'
    now = int(time.time())
    assert verify_signature("s", _signed("s", body, now), body) == "ok"
    assert verify_signature("s", _signed("other", body, now), body) == "signature mismatch"
    assert verify_signature("s", _signed("s", body, now - 301), body) == "stale timestamp"
    assert verify_signature("s", None, body) == "missing signature"
    assert verify_signature("s", _signed("s", body, now), body + b" ") == "signature mismatch"


@pytest.fixture
def receiver() -> Any:
    lines: list[str] = []
    handle = WebhookReceiver("secret", output=lines.append)
    handle.start()
    yield handle, lines
    handle.stop()


def test_receiver_accepts_good_and_rejects_bad_signatures(receiver: Any) -> None:
    handle, lines = receiver
    body = json.dumps({"job_id": "42", "status": "completed"}).encode()
    good = httpx.post(handle.url, content=body, headers={"X-Signature": _signed("secret", body, int(time.time()))})
    bad = httpx.post(handle.url, content=body, headers={"X-Signature": _signed("nope", body, int(time.time()))})

    assert (good.status_code, bad.status_code) == (200, 400)
    assert lines[0] == "webhook received: job 42 status completed (signature ok)"
    assert "signature mismatch" in lines[1]
    assert [delivery.signature_ok for delivery in handle.deliveries] == [True, False]


def test_receiver_names_a_batch_event_by_its_name_and_batch(receiver: Any) -> None:
    handle, lines = receiver
    body = json.dumps({"event": "requeue_batch.completed", "batch_id": "rb_1", "status": "cancelled"}).encode()
    httpx.post(handle.url, content=body, headers={"X-Signature": _signed("secret", body, int(time.time()))})

    assert lines[0] == "webhook received: requeue_batch.completed rb_1 status cancelled (signature ok)"
