"""The local scheduler (rates, scale) and the webhook receiver's signature check."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest

from infra.local.schedules import ScheduleError, Scheduler, rate_seconds
from infra.local.template import ScheduleDef
from infra.sample.webhooks import WebhookReceiver, verify_signature


def test_rates_and_a_cron_is_refused_by_name() -> None:
    assert rate_seconds("rate(5 minutes)") == 300
    assert rate_seconds("rate(1 hour)") == 3600
    with pytest.raises(ScheduleError, match="only rate"):
        rate_seconds("cron(0 12 * * ? *)")


def test_scheduler_runs_each_function_on_its_scaled_rate() -> None:
    # Given a 5-minute schedule at scale 0.1 and a fake clock
    now = [1000.0]
    runs: list[tuple[str, Any]] = []
    schedule = ScheduleDef("Rule", "rate(5 minutes)", "Reconciler")
    scheduler = Scheduler([(schedule, "reconciler")], lambda f, e: runs.append((f, e)), scale=0.1, clock=lambda: now[0])

    # When 29 s, then 30 s, then 60 s have passed
    now[0] += 29
    scheduler.run_due()
    first = len(runs)
    now[0] += 1
    scheduler.run_due()
    now[0] += 30
    scheduler.run_due()

    # Then it ran every 30 s (none before), with EventBridge's scheduled event
    assert first == 0
    assert [function for function, _ in runs] == ["Reconciler", "Reconciler"]
    assert runs[0][1]["detail-type"] == "Scheduled Event"
    assert scheduler.describe() == ["reconciler every 30 s (x0.1)"]


def test_scheduler_thread_stops() -> None:
    scheduler = Scheduler([(ScheduleDef("R", "rate(1 minute)", "F"), "f")], lambda f, e: None)
    scheduler.start()
    scheduler.stop(timeout=5)
    assert not scheduler.alive


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
