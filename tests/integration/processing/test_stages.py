"""The pipeline stages under moto: transitions, artifacts, signed webhooks, events and failure."""

from __future__ import annotations

import json

import httpx
import pytest

from shared.adapters.eventbridge import EventBridgePublisher
from shared.adapters.s3 import S3ArtifactStore
from shared.aws import client
from shared.jobs.models import JobStatus
from shared.jobs.repository import JobRepository
from shared.pipeline.artifacts import result_key
from shared.pipeline.errors import (
    PermanentStageError,
    TransientStageError,
)
from shared.pipeline.stages import PipelineStages
from tests.conftest import Tenants
from tests.integration.processing.stage_support import (
    BUCKET,
    CALLRAIL_KEY,
    CALLRAIL_KEY_PARAMETER,
    SECRET,
    SECRET_PARAMETER,
    TRANSCRIPTION,
    FakeTranscribe,
    configure,
    job_events,
    unavailable,
    verify,
)
from tests.support.aws import TABLE_NAME
from tests.support.factories import store_job


def test_a_job_goes_from_queued_to_completed_with_a_signed_webhook(
    tenants: Tenants, stages: PipelineStages, received: list[httpx.Request]
) -> None:
    # Given a queued call with its CallRail transcript, keywords and a webhook configured
    configure(
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
    jobs = JobRepository(TABLE_NAME, client("dynamodb"))
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
    assert verify(SECRET, request)
    assert not verify(b"another secret", request)
    assert json.loads(request.content)["status"] == "completed"
    # and the bus announced it
    (event,) = job_events()
    assert event["detail-type"] == "Job Completed"
    assert event["detail"]["job_id"] == job_id


def test_amazon_transcribe_is_awaited_and_bedrock_analyzes(
    tenants: Tenants, stages: PipelineStages, transcribe: FakeTranscribe
) -> None:
    configure(
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
    stored = JobRepository(TABLE_NAME, client("dynamodb")).get(job.job_id)
    assert stored is not None
    assert stored.status is JobStatus.COMPLETED
    assert stored.result is not None
    assert stored.result["summary"] == "A greeting."


def test_a_retried_stage_carries_on_where_it_was(tenants: Tenants, stages: PipelineStages) -> None:
    job = store_job(
        tenants.workspace(2), status=JobStatus.QUEUED, duration=75, source_metadata={"transcription": TRANSCRIPTION}
    )

    first = stages.start_transcription(job.job_id, 0)
    again = stages.start_transcription(job.job_id, 0)

    assert first == again
    stored = JobRepository(TABLE_NAME, client("dynamodb")).get(job.job_id)
    assert stored is not None
    assert [event.status for event in stored.history] == ["transcribing"]


def test_a_stage_failure_ends_the_job_failed_with_the_error(tenants: Tenants, stages: PipelineStages) -> None:
    # Given a job whose call came without a transcript, under the `source` provider
    job = store_job(tenants.workspace(3), status=JobStatus.QUEUED, duration=75)
    with pytest.raises(PermanentStageError) as raised:
        stages.start_transcription(job.job_id, 0)

    # When the state machine's catch hands the error to the fail stage
    recorded = stages.fail(job.job_id, 0, "PermanentStageError", raised.value.detail)

    # Then the job is failed with {stage, error, message} and the bus says so
    stored = JobRepository(TABLE_NAME, client("dynamodb")).get(job.job_id)
    assert stored is not None
    assert stored.status is JobStatus.FAILED
    assert stored.failure is not None
    assert stored.failure.stage == "transcribing"
    assert stored.failure.error == "PermanentStageError"
    assert stored.failure.message == raised.value.detail
    assert recorded["recorded"] is True
    assert [event["detail-type"] for event in job_events()] == ["Job Failed"]


def test_webhooks_without_a_secret_are_a_permanent_error(tenants: Tenants, stages: PipelineStages) -> None:
    configure({"processing": {"webhooks": {"urls": ["https://hooks.example.test/x"]}}})
    job = store_job(
        tenants.workspace(4), status=JobStatus.QUEUED, duration=75, source_metadata={"transcription": TRANSCRIPTION}
    )
    stages.start_transcription(job.job_id, 0)
    stages.analyze(job.job_id, 0)

    with pytest.raises(PermanentStageError, match="secret_parameter"):
        stages.publish(job.job_id, 0)


def test_fail_leaves_a_finished_job_alone(tenants: Tenants, stages: PipelineStages) -> None:
    job = store_job(tenants.workspace(5), status=JobStatus.SKIPPED)

    assert stages.fail(job.job_id, 0, "States.Timeout", "late") == {"recorded": False}
    stored = JobRepository(TABLE_NAME, client("dynamodb")).get(job.job_id)
    assert stored is not None
    assert stored.status is JobStatus.SKIPPED


def test_a_run_failing_after_completing_its_job_sends_the_completed_event_again(
    tenants: Tenants, stages: PipelineStages, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a job this run completed, whose publish then failed (its event may not have gone out)
    job = store_job(
        tenants.workspace(5), status=JobStatus.QUEUED, duration=75, source_metadata={"transcription": TRANSCRIPTION}
    )
    stages.start_transcription(job.job_id, 0)
    stages.analyze(job.job_id, 0)
    monkeypatch.setattr(EventBridgePublisher, "job_completed", unavailable)
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
    stored = JobRepository(TABLE_NAME, client("dynamodb")).get(job.job_id)
    assert stored is not None
    assert stored.status is JobStatus.COMPLETED
    assert [event["detail-type"] for event in job_events()] == ["Job Completed"]
