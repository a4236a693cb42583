"""The pipeline stages under moto, shared by their tests: fake Transcribe and Bedrock, the stages and helpers.

The fixtures (``received``, ``transcribe``, ``stages``) reach the tests through this folder's ``conftest.py``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import boto3
import httpx
import pytest

from shared.adapters.eventbridge import EventBridgePublisher
from shared.adapters.s3 import S3ArtifactStore
from shared.aws import client
from shared.config.hierarchy import ConfigLevel, ConfigStore
from shared.jobs.repository import JobRepository
from shared.pipeline.analysis import Analysis, Sentiment
from shared.pipeline.errors import (
    TransientStageError,
)
from shared.pipeline.publishing import WebhookDelivery
from shared.pipeline.stages import PipelineStages, StageServices
from shared.pipeline.transcripts import Segment, Transcript
from tests.support.aws import CONFIG_PREFIX, TABLE_NAME

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
            jobs=JobRepository(TABLE_NAME, client("dynamodb")),
            config=ConfigStore(CONFIG_PREFIX, client("ssm")),
            artifacts=S3ArtifactStore(BUCKET, client("s3")),
            events=EventBridgePublisher(BUS, client("events")),
            transcribe=lambda: transcribe,
            bedrock=FakeBedrock,
            webhooks=WebhookDelivery(http=httpx.Client(transport=httpx.MockTransport(endpoint)), sleep=lambda _: None),
            secret=lambda name: ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"].encode(),
        )
    )


def configure(document: dict[str, Any]) -> None:
    ConfigStore(CONFIG_PREFIX, client("ssm")).write_document(ConfigLevel.PLATFORM, None, document)


def job_events() -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName="job-events")["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def verify(secret: bytes, request: httpx.Request) -> bool:
    """The documented algorithm, independently: v1 = hex HMAC-SHA256(secret, "<t>.<raw body>")."""
    fields = dict(part.split("=", 1) for part in request.headers["X-Signature"].split(","))
    expected = hmac.new(secret, fields["t"].encode() + b"." + request.content, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"])


def unavailable(*_: Any) -> None:
    raise TransientStageError("PutEvents failed (InternalException); retry later")
