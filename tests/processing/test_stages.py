"""The pipeline stages under moto: transitions, artifacts, signed webhooks, events, failure and retries."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

import boto3
import httpx
import pytest

from shared.adapters.eventbridge import EventBridgePublisher
from shared.adapters.s3 import S3ArtifactStore
from shared.aws import client
from shared.aws import client as aws_client
from shared.config.hierarchy import ConfigLevel, ConfigStore
from shared.jobs.models import JobStatus
from shared.jobs.repository import JobRepository
from shared.pipeline import stages as stage_module
from shared.pipeline.analysis import Analysis, Sentiment
from shared.pipeline.artifacts import result_key
from shared.pipeline.errors import (
    PermanentStageError,
    TranscriptionTimedOut,
    TransientStageError,
)
from shared.pipeline.publishing import WebhookDelivery
from shared.pipeline.stages import PipelineStages, StageServices
from shared.pipeline.transcripts import Segment, Transcript
from tests.conftest import Tenants
from tests.processing.conftest import CONFIG_PREFIX
from tests.support.aws import TABLE_NAME
from tests.support.factories import store_job

BUCKET = "gensail-artifacts-test"
BUS = "gensail-jobs"
SECRET_PARAMETER = "/gensail/secrets/webhooks/test"
SECRET = b"whsec-test-0123456789"
CALLRAIL_KEY_PARAMETER = "/gensail/secrets/callrail/ACC123"
CALLRAIL_KEY = b"callrail-key-0123456789"
TRANSCRIPTION = "Agent: Thanks for calling, how can I help?\nCaller: I love the new plan, the price is great."


class FakeTranscribe:
    """Amazon Transcribe stand-in: not ready on the first check, ready on the second."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.checks = 0
        self.headers: Any = None

    def start(self, job: Any, job_name: str, language_code: str, recording_headers: Any = None) -> None:
        self.started.append(job_name)
        self.headers = recording_headers

    def check(self, job_name: str) -> Transcript | None:
        self.checks += 1
        if self.checks < 2:
            return None
        segments = [Segment(speaker="agent", start=0.0, end=2.0, text="Hello there")]
        return Transcript(text="Hello there", segments=segments, language_code="en-US", source="aws_transcribe")


class FakeBedrock:
    def __init__(self, model_id: str) -> None:
        self.model_id = model_id

    def analyze(self, transcript: Transcript, keywords: list[str]) -> Analysis:
        return Analysis(
            provider="bedrock",
            word_count=2,
            talk_time_seconds={"agent": 2.0},
            keyword_hits={},
            sentiment=Sentiment(label="positive", score=0.8, reason=f"model {self.model_id}"),
            summary="A greeting.",
            topics=["greeting"],
        )


@pytest.fixture
def received() -> list[httpx.Request]:
    return []


@pytest.fixture
def transcribe() -> FakeTranscribe:
    return FakeTranscribe()


@pytest.fixture
def stages(aws: None, received: list[httpx.Request], transcribe: FakeTranscribe) -> PipelineStages:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    events = boto3.client("events")
    events.create_event_bus(Name=BUS)
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="job-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all-jobs", EventBusName=BUS, EventPattern=json.dumps({"source": ["gensail.pipeline"]}))
    events.put_targets(Rule="all-jobs", EventBusName=BUS, Targets=[{"Id": "queue", "Arn": queue_arn}])
    boto3.client("ssm").put_parameter(Name=SECRET_PARAMETER, Value=SECRET.decode(), Type="SecureString")
    boto3.client("ssm").put_parameter(Name=CALLRAIL_KEY_PARAMETER, Value=CALLRAIL_KEY.decode(), Type="SecureString")

    def endpoint(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(200)

    ssm = boto3.client("ssm")
    return PipelineStages(
        StageServices(
            jobs=JobRepository(TABLE_NAME, aws_client("dynamodb")),
            config=ConfigStore(CONFIG_PREFIX, aws_client("ssm")),
            artifacts=S3ArtifactStore(BUCKET, client("s3")),
            events=EventBridgePublisher(BUS, client("events")),
            transcribe=lambda: transcribe,
            bedrock=FakeBedrock,
            webhooks=WebhookDelivery(http=httpx.Client(transport=httpx.MockTransport(endpoint)), sleep=lambda _: None),
            secret=lambda name: ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"].encode(),
        )
    )


def _configure(document: dict[str, Any]) -> None:
    ConfigStore(CONFIG_PREFIX, aws_client("ssm")).write_document(ConfigLevel.PLATFORM, None, document)


def _events() -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName="job-events")["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def _verify(secret: bytes, request: httpx.Request) -> bool:
    """The documented algorithm, independently: v1 = hex HMAC-SHA256(secret, "<t>.<raw body>")."""
    fields = dict(part.split("=", 1) for part in request.headers["X-Signature"].split(","))
    expected = hmac.new(secret, fields["t"].encode() + b"." + request.content, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"])


def test_a_job_goes_from_queued_to_completed_with_a_signed_webhook(
    tenants: Tenants, stages: PipelineStages, received: list[httpx.Request]
) -> None:
    # Given a queued call with its CallRail transcript, keywords and a webhook configured
    _configure(
        {
            "processing": {
                "analysis": {"keywords": ["price", "plan"]},
                "webhooks": {"urls": ["https://hooks.example.test/gensail"], "secret_parameter": SECRET_PARAMETER},
            }
        }
    )
    job = store_job(
        tenants.workspace(0), status=JobStatus.QUEUED, duration=75, source_metadata={"transcription": TRANSCRIPTION}
    )
    jobs = JobRepository(TABLE_NAME, aws_client("dynamodb"))
    job_id = job.job_id

    # When the state machine runs each stage
    transcription = stages.start_transcription(job_id, 0)
    analysis = stages.analyze(job_id, 0)
    publication = stages.publish(job_id, 0)

    # Then the job is completed with its result summary and history
    assert transcription["ready"] is True
    assert analysis["analysis_key"]
    stored = jobs.get(job_id)
    assert stored is not None
    assert stored.status is JobStatus.COMPLETED
    assert [event.status for event in stored.history] == ["transcribing", "analyzing", "publishing", "completed"]
    assert stored.result is not None
    assert stored.result["keyword_hits"] == {"price": 1, "plan": 1}
    assert stored.result["sentiment"] == "positive"
    assert publication == {"result_key": result_key(job_id), "webhooks_delivered": 1}
    # the result object is stored
    document = S3ArtifactStore(BUCKET, client("s3")).get_json(result_key(job_id))
    assert document["job_id"] == job_id
    assert document["transcript"]["segments"]
    # one delivery, signed as documented, with the result
    (request,) = received
    assert _verify(SECRET, request)
    assert not _verify(b"another secret", request)
    assert json.loads(request.content)["status"] == "completed"
    # and the bus announced it
    (event,) = _events()
    assert event["detail-type"] == "Job Completed"
    assert event["detail"]["job_id"] == job_id


def test_amazon_transcribe_is_awaited_and_bedrock_analyzes(
    tenants: Tenants, stages: PipelineStages, transcribe: FakeTranscribe
) -> None:
    _configure(
        {
            "processing": {"transcription": {"provider": "aws_transcribe"}, "analysis": {"provider": "bedrock"}},
            "integrations": {"callrail": {"api_key_parameter": CALLRAIL_KEY_PARAMETER}},
        }
    )
    job = store_job(tenants.workspace(1), status=JobStatus.QUEUED, duration=75, source_metadata={"requeue_count": 2})

    started = stages.start_transcription(job.job_id, 2)
    first = stages.check_transcription(job.job_id, 2, started["transcribe_job"])
    second = stages.check_transcription(job.job_id, 2, started["transcribe_job"])
    stages.analyze(job.job_id, 2)
    stages.publish(job.job_id, 2)

    assert started == {"ready": False, "transcribe_job": f"job-{job.job_id}-2", "transcript_key": None}
    assert transcribe.headers == {"Authorization": f'Token token="{CALLRAIL_KEY.decode()}"'}
    assert first["ready"] is False
    assert second["ready"] is True
    stored = JobRepository(TABLE_NAME, aws_client("dynamodb")).get(job.job_id)
    assert stored is not None
    assert stored.status is JobStatus.COMPLETED
    assert stored.result is not None
    assert stored.result["summary"] == "A greeting."


def test_a_run_failing_after_completing_its_job_sends_the_completed_event_again(
    tenants: Tenants, stages: PipelineStages, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a job this run completed, whose publish then failed (its event may not have gone out)
    job = store_job(
        tenants.workspace(5), status=JobStatus.QUEUED, duration=75, source_metadata={"transcription": TRANSCRIPTION}
    )
    stages.start_transcription(job.job_id, 0)
    stages.analyze(job.job_id, 0)
    monkeypatch.setattr(EventBridgePublisher, "job_completed", _unavailable)
    with pytest.raises(TransientStageError):
        stages.publish(job.job_id, 0)

    # When MarkFailed runs and the bus is still unavailable, then it raises (its errors alarm fires)
    with pytest.raises(TransientStageError):
        stages.fail(job.job_id, 0, "TransientStageError", "PutEvents Job Completed failed")
    monkeypatch.undo()

    # And once the bus answers, MarkFailed sends the event and leaves the job completed
    assert stages.fail(job.job_id, 0, "TransientStageError", "PutEvents Job Completed failed") == {
        "recorded": False,
        "completed_event_sent": True,
    }
    stored = JobRepository(TABLE_NAME, aws_client("dynamodb")).get(job.job_id)
    assert stored is not None
    assert stored.status is JobStatus.COMPLETED
    assert [event["detail-type"] for event in _events()] == ["Job Completed"]


def _unavailable(*_: Any) -> None:
    raise TransientStageError("PutEvents failed (InternalException); retry later")


# --- runs that belong to an older requeue, retries after the last write, transcriptions that never finish ---------


def test_a_publish_retried_after_completing_sends_the_missing_event(
    tenants: Tenants, stages: PipelineStages, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a run whose final event cannot be sent the first time
    job = store_job(
        tenants.workspace(7), status=JobStatus.QUEUED, duration=75, source_metadata={"transcription": TRANSCRIPTION}
    )
    stages.start_transcription(job.job_id, 0)
    stages.analyze(job.job_id, 0)
    original = EventBridgePublisher.job_completed
    calls: list[str] = []

    def completed_once_unavailable(self: EventBridgePublisher, finished: Any, result: str) -> None:
        calls.append(result)
        if len(calls) == 1:
            raise TransientStageError("PutEvents Job Completed failed (InternalException); retry later")
        original(self, finished, result)

    monkeypatch.setattr(EventBridgePublisher, "job_completed", completed_once_unavailable)
    with pytest.raises(TransientStageError):
        stages.publish(job.job_id, 0)

    # When the state machine retries the stage
    again = stages.publish(job.job_id, 0)

    # Then the job stays completed with its result, and the event is sent once
    stored = JobRepository(TABLE_NAME, aws_client("dynamodb")).get(job.job_id)
    assert stored is not None
    assert stored.status is JobStatus.COMPLETED
    assert again == {"result_key": result_key(job.job_id), "webhooks_delivered": 0}
    assert [event["detail-type"] for event in _events()] == ["Job Completed"]
    assert [event.status for event in stored.history][-1] == "completed"


def test_a_fail_retried_after_recording_sends_the_missing_event(
    tenants: Tenants, stages: PipelineStages, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = store_job(tenants.workspace(0), status=JobStatus.QUEUED, duration=75)  # no transcript: the stage fails
    with pytest.raises(PermanentStageError) as raised:
        stages.start_transcription(job.job_id, 0)
    original = EventBridgePublisher.job_failed
    calls: list[str] = []

    def failed_once_unavailable(self: EventBridgePublisher, failed: Any, failure: dict[str, Any]) -> None:
        calls.append(failed.job_id)
        if len(calls) == 1:
            raise TransientStageError("PutEvents Job Failed failed (InternalException); retry later")
        original(self, failed, failure)

    monkeypatch.setattr(EventBridgePublisher, "job_failed", failed_once_unavailable)
    with pytest.raises(TransientStageError):
        stages.fail(job.job_id, 0, "PermanentStageError", raised.value.detail)

    again = stages.fail(job.job_id, 0, "PermanentStageError", raised.value.detail)

    stored = JobRepository(TABLE_NAME, aws_client("dynamodb")).get(job.job_id)
    assert stored is not None
    assert stored.status is JobStatus.FAILED
    assert again["recorded"] is True
    assert again["stage"] == "transcribing"
    assert [event["detail-type"] for event in _events()] == ["Job Failed"]
    assert [event.status for event in stored.history] == ["transcribing", "failed"]


def test_a_transcription_that_never_finishes_fails_the_job_before_the_run_times_out(
    tenants: Tenants, stages: PipelineStages, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an Amazon Transcribe job that is still running when the deadline has passed
    _configure({"processing": {"transcription": {"provider": "aws_transcribe"}}})
    job = store_job(tenants.workspace(1), status=JobStatus.QUEUED, duration=75)
    started = stages.start_transcription(job.job_id, 0)
    monkeypatch.setattr(stage_module, "TRANSCRIPTION_DEADLINE", timedelta(0))

    # When the state machine checks on it, then the stage gives up with an error MarkFailed records
    with pytest.raises(TranscriptionTimedOut, match="did not finish within 0 minutes") as raised:
        stages.check_transcription(job.job_id, 0, started["transcribe_job"])
    stages.fail(job.job_id, 0, "TranscriptionTimedOut", raised.value.detail)

    stored = JobRepository(TABLE_NAME, aws_client("dynamodb")).get(job.job_id)
    assert stored is not None
    assert stored.status is JobStatus.FAILED
    assert stored.failure is not None
    assert (stored.failure.stage, stored.failure.error) == ("transcribing", "TranscriptionTimedOut")


def test_a_transcription_within_its_deadline_is_awaited(
    tenants: Tenants, stages: PipelineStages, transcribe: FakeTranscribe
) -> None:
    _configure({"processing": {"transcription": {"provider": "aws_transcribe"}}})
    job = store_job(tenants.workspace(2), status=JobStatus.QUEUED, duration=75)
    started = stages.start_transcription(job.job_id, 0)

    assert stages.check_transcription(job.job_id, 0, started["transcribe_job"])["ready"] is False
    assert transcribe.checks == 1


def test_only_a_callrail_key_is_ever_sent_to_a_recordings_host(
    tenants: Tenants, stages: PipelineStages, transcribe: FakeTranscribe
) -> None:
    # Given a workspace whose CallRail key parameter names the webhook signing secret by mistake
    _configure(
        {
            "processing": {"transcription": {"provider": "aws_transcribe"}},
            "integrations": {"callrail": {"api_key_parameter": SECRET_PARAMETER}},
        }
    )
    job = store_job(tenants.workspace(3), status=JobStatus.QUEUED, duration=75)

    # When transcription starts, then the stage fails before reading it, and nothing is sent anywhere
    with pytest.raises(PermanentStageError, match="not under /gensail/secrets/callrail/"):
        stages.start_transcription(job.job_id, 0)
    assert transcribe.started == []
