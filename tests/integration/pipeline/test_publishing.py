"""Publishing: signed webhook deliveries to a real server on loopback, and events on a moto event bus."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from typing import Any

import boto3
import httpx
import pytest
from botocore.stub import Stubber

from shared.adapters.eventbridge import EventBridgePublisher
from shared.pipeline.errors import PermanentStageError, TransientStageError
from shared.pipeline.publishing import WebhookDelivery, attempt_seconds, sign
from tests.integration.pipeline.conftest import LoopbackServer, Reply, make_job

SECRET = b"whsec_5f0c1b2a9e"
BODY = json.dumps({"job_id": "1732000000123", "status": "completed"}).encode()


def verify(header: str, body: bytes, secret: bytes) -> int:
    """What a customer's endpoint does, written from the documented scheme: returns the signed timestamp."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(secret, fields["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(fields["v1"], expected), "signature does not verify"
    return int(fields["t"])


class FakeClock:
    def __init__(self, start: float = 1_764_000_000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds + 1


def delivery(clock: FakeClock, **options) -> WebhookDelivery:
    return WebhookDelivery(http=httpx.Client(), sleep=clock.sleep, clock=clock.time, **options)


def test_sign_matches_the_documented_format():
    header = sign(SECRET, BODY, 1_764_000_000)

    assert header.startswith("t=1764000000,v1=")
    assert verify(header, BODY, SECRET) == 1_764_000_000
    with pytest.raises(AssertionError):
        verify(header, BODY + b" ", SECRET)


def test_a_delivery_arrives_signed_with_the_documented_headers(server: LoopbackServer):
    clock = FakeClock()
    url = server.reply("/hooks/gensail", Reply(status=204))

    attempts = delivery(clock).deliver(url, BODY, SECRET)

    assert attempts == 1
    [request] = server.received
    assert (request.method, request.body) == ("POST", BODY)
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == "Gensail-Webhooks/1"
    assert verify(request.headers["X-Signature"], request.body, SECRET) == int(clock.now)


def test_server_errors_are_retried_with_backoff_and_a_fresh_signature(server: LoopbackServer):
    clock = FakeClock()
    url = server.reply("/hook", Reply(status=500), Reply(status=503), Reply(status=200))

    attempts = delivery(clock).deliver(url, BODY, SECRET)

    assert attempts == 3
    assert clock.slept == [0.5, 1.0]
    stamps = [verify(r.headers["X-Signature"], r.body, SECRET) for r in server.received]
    assert len(set(stamps)) == 3  # each attempt signed at its own time


def test_too_many_requests_waits_as_asked_within_the_bound(server: LoopbackServer):
    clock = FakeClock()
    url = server.reply(
        "/hook",
        Reply(status=429, headers={"Retry-After": "3"}),
        Reply(status=429, headers={"Retry-After": "600"}),
        Reply(status=200),
    )

    assert delivery(clock, max_backoff_seconds=10).deliver(url, BODY, SECRET) == 3
    assert clock.slept == [3.0, 10.0]


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
def test_client_errors_fail_at_once(server: LoopbackServer, status):
    clock = FakeClock()
    url = server.reply("/hook", Reply(status=status))

    with pytest.raises(PermanentStageError, match=str(status)):
        delivery(clock).deliver(url, BODY, SECRET)
    assert len(server.received) == 1
    assert clock.slept == []


def test_exhausted_retries_are_transient_so_the_state_machine_retries_later(server: LoopbackServer):
    clock = FakeClock()
    url = server.reply("/hook", Reply(status=502))

    with pytest.raises(TransientStageError, match="502 on all 4 attempts"):
        delivery(clock).deliver(url, BODY, SECRET)
    assert len(server.received) == 4
    assert clock.slept == [0.5, 1.0, 2.0]


def test_timeouts_and_refused_connections_are_retried(server: LoopbackServer):
    clock = FakeClock()
    slow = server.reply("/slow", Reply(status=200, delay=2.0))

    with pytest.raises(TransientStageError, match="timed out"):
        delivery(clock, attempts=2, timeout=httpx.Timeout(0.2)).deliver(slow, BODY, SECRET)
    with pytest.raises(TransientStageError, match="connection failed"):
        delivery(clock, attempts=2).deliver("http://127.0.0.1:9/hook", BODY, SECRET)


def test_a_redirect_is_not_followed(server: LoopbackServer):
    url = server.reply("/hook", Reply(status=301, headers={"Location": "http://127.0.0.1:9/elsewhere"}))

    with pytest.raises(PermanentStageError, match="301"):
        delivery(FakeClock()).deliver(url, BODY, SECRET)


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "file:///etc/passwd", "https:///no-host", "not a url"])
def test_only_http_urls_are_delivered_to(url):
    with pytest.raises(PermanentStageError, match="not an http"):
        WebhookDelivery(http=httpx.Client()).deliver(url, BODY, SECRET)


@pytest.fixture
def bus_queue(aws):
    """A custom bus whose pipeline events land in an SQS queue, so a test can read them back."""
    events, sqs = boto3.client("events"), boto3.client("sqs")
    events.create_event_bus(Name="gensail-jobs")
    queue_url = sqs.create_queue(QueueName="bus-tap")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="tap", EventBusName="gensail-jobs", EventPattern=json.dumps({"source": ["gensail.pipeline"]}))
    events.put_targets(Rule="tap", EventBusName="gensail-jobs", Targets=[{"Id": "queue", "Arn": queue_arn}])

    def received() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(message["Body"]) for message in messages]

    return received


def test_job_completed_event_reaches_the_bus(bus_queue):
    job = make_job()

    EventBridgePublisher("gensail-jobs", boto3.client("events")).job_completed(job, f"results/{job.job_id}.json")

    [event] = bus_queue()
    assert (event["source"], event["detail-type"]) == ("gensail.pipeline", "Job Completed")
    assert event["detail"] == {
        "job_id": job.job_id,
        "workspace_id": "ws_000",
        "organization_id": "org_00",
        "partner_id": "ptn_0",
        "status": "completed",
        "requeue_count": 0,
        "result_key": f"results/{job.job_id}.json",
    }


def test_job_failed_event_carries_the_failure(bus_queue):
    failure = {"stage": "transcribing", "error": "PermanentStageError", "message": "Transcription job failed"}

    EventBridgePublisher("gensail-jobs", boto3.client("events")).job_failed(make_job(), failure)

    [event] = bus_queue()
    assert event["detail-type"] == "Job Failed"
    assert event["detail"]["status"] == "failed"
    assert event["detail"]["failure"] == failure


def test_an_entry_the_bus_did_not_accept_is_transient():
    events = boto3.client("events", region_name="us-east-1")
    with Stubber(events) as stub:
        stub.add_response(
            "put_events",
            {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}]},
        )
        with pytest.raises(TransientStageError, match="InternalFailure"):
            EventBridgePublisher("gensail-jobs", events=events).job_completed(make_job(), "results/1.json")


def test_no_retry_starts_that_could_not_finish_before_the_deadline(server: LoopbackServer):
    clock = FakeClock()
    url = server.reply("/hook", Reply(status=502))
    deadline = clock.now + attempt_seconds() + 0.4  # room for the first attempt, not for a pause and a second one

    with pytest.raises(TransientStageError, match=r"502 on 1 attempt.*no time left"):
        delivery(clock).deliver(url, BODY, SECRET, deadline=deadline)
    assert len(server.received) == 1
    assert clock.slept == []


def test_every_url_gets_the_result_and_the_count_is_returned(server: LoopbackServer):
    urls = [server.reply(f"/hook-{index}", Reply(status=200)) for index in range(3)]

    assert delivery(FakeClock()).deliver_all(urls, BODY, SECRET) == 3
    assert sorted(request.path for request in server.received) == ["/hook-0", "/hook-1", "/hook-2"]


def test_a_url_that_refuses_for_good_fails_the_publish_even_if_another_is_only_down(server: LoopbackServer):
    gone = server.reply("/gone", Reply(status=410))
    down = server.reply("/down", Reply(status=503))
    fine = server.reply("/fine", Reply(status=200))

    with pytest.raises(PermanentStageError, match="410"):
        delivery(FakeClock(), attempts=2).deliver_all([down, gone, fine], BODY, SECRET)
    with pytest.raises(TransientStageError, match="503"):
        delivery(FakeClock(), attempts=2).deliver_all([down, fine], BODY, SECRET)
    assert {request.path for request in server.received} == {"/gone", "/down", "/fine"}


def test_no_urls_means_no_delivery():
    assert WebhookDelivery(http=httpx.Client()).deliver_all([], BODY, SECRET) == 0


def test_the_urls_are_delivered_to_at_the_same_time():
    # Each endpoint answers only once all three requests have arrived: one after another, this would never happen.
    arrived = threading.Barrier(3, timeout=10)

    def endpoint(request: httpx.Request) -> httpx.Response:
        arrived.wait()
        return httpx.Response(200)

    webhooks = WebhookDelivery(http=httpx.Client(transport=httpx.MockTransport(endpoint)))

    urls = [f"https://hooks.example.test/{index}" for index in range(3)]
    assert webhooks.deliver_all(urls, BODY, SECRET) == 3


def test_a_delivery_stops_retrying_once_another_url_refused(server: LoopbackServer):
    clock = FakeClock()
    url = server.reply("/down", Reply(status=503))
    refused = threading.Event()
    refused.set()

    with pytest.raises(TransientStageError, match="not retried, as another URL refused"):
        delivery(clock).deliver(url, BODY, SECRET, give_up=refused)
    assert len(server.received) == 1
