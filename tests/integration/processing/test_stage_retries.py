"""The pipeline stages under moto: runs of an older requeue, retries after the last write, slow transcriptions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shared.adapters.eventbridge import EventBridgePublisher
from shared.aws import client
from shared.jobs.models import JobStatus
from shared.jobs.repository import JobRepository
from shared.pipeline import stages as stage_module
from shared.pipeline.artifacts import result_key
from shared.pipeline.errors import (
    PermanentStageError,
    SupersededRunError,
    TranscriptionTimedOut,
    TransientStageError,
)
from shared.pipeline.stages import PipelineStages
from tests.conftest import Tenants
from tests.integration.processing.stage_support import (
    SECRET_PARAMETER,
    TRANSCRIPTION,
    FakeTranscribe,
    configure,
    job_events,
)
from tests.support.aws import TABLE_NAME
from tests.support.factories import store_job


def test_a_run_for_an_older_requeue_changes_nothing(tenants: Tenants, stages: PipelineStages) -> None:
    # Given a job at requeue #1 and a run started for requeue #0 (a stale stream record of the same job)
    job = store_job(
        tenants.workspace(6),
        status=JobStatus.QUEUED,
        duration=75,
        source_metadata={"transcription": TRANSCRIPTION, "requeue_count": 1},
    )

    # When the stale run's first stage runs, then it stops without touching the job
    with pytest.raises(SupersededRunError, match="requeue #1"):
        stages.start_transcription(job.job_id, 0)
    # and its failure handler leaves the job to the newer run
    assert stages.fail(job.job_id, 0, "SupersededRunError", "superseded") == {"recorded": False}
    stored = JobRepository(TABLE_NAME, client("dynamodb")).get(job.job_id)
    assert stored == job
    assert job_events() == []
    # while the run of the current requeue proceeds
    assert stages.start_transcription(job.job_id, 1)["ready"] is True


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

    def completed_onceunavailable(self: EventBridgePublisher, finished: Any, result: str) -> None:
        calls.append(result)
        if len(calls) == 1:
            raise TransientStageError("PutEvents Job Completed failed (InternalException); retry later")
        original(self, finished, result)

    monkeypatch.setattr(EventBridgePublisher, "job_completed", completed_onceunavailable)
    with pytest.raises(TransientStageError):
        stages.publish(job.job_id, 0)

    # When the state machine retries the stage
    again = stages.publish(job.job_id, 0)

    # Then the job stays completed with its result, and the event is sent once
    stored = JobRepository(TABLE_NAME, client("dynamodb")).get(job.job_id)
    assert stored is not None
    assert stored.status is JobStatus.COMPLETED
    assert again == {"result_key": result_key(job.job_id), "webhooks_delivered": 0}
    assert [event["detail-type"] for event in job_events()] == ["Job Completed"]
    assert [event.status for event in stored.history][-1] == "completed"


def test_a_fail_retried_after_recording_sends_the_missing_event(
    tenants: Tenants, stages: PipelineStages, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = store_job(tenants.workspace(0), status=JobStatus.QUEUED, duration=75)  # no transcript: the stage fails
    with pytest.raises(PermanentStageError) as raised:
        stages.start_transcription(job.job_id, 0)
    original = EventBridgePublisher.job_failed
    calls: list[str] = []

    def failed_onceunavailable(self: EventBridgePublisher, failed: Any, failure: dict[str, Any]) -> None:
        calls.append(failed.job_id)
        if len(calls) == 1:
            raise TransientStageError("PutEvents Job Failed failed (InternalException); retry later")
        original(self, failed, failure)

    monkeypatch.setattr(EventBridgePublisher, "job_failed", failed_onceunavailable)
    with pytest.raises(TransientStageError):
        stages.fail(job.job_id, 0, "PermanentStageError", raised.value.detail)

    again = stages.fail(job.job_id, 0, "PermanentStageError", raised.value.detail)

    stored = JobRepository(TABLE_NAME, client("dynamodb")).get(job.job_id)
    assert stored is not None
    assert stored.status is JobStatus.FAILED
    assert again["recorded"] is True
    assert again["stage"] == "transcribing"
    assert [event["detail-type"] for event in job_events()] == ["Job Failed"]
    assert [event.status for event in stored.history] == ["transcribing", "failed"]


def test_a_transcription_that_never_finishes_fails_the_job_before_the_run_times_out(
    tenants: Tenants, stages: PipelineStages, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an Amazon Transcribe job that is still running when the deadline has passed
    configure({"processing": {"transcription": {"provider": "aws_transcribe"}}})
    job = store_job(tenants.workspace(1), status=JobStatus.QUEUED, duration=75)
    started = stages.start_transcription(job.job_id, 0)
    monkeypatch.setattr(stage_module, "TRANSCRIPTION_DEADLINE", timedelta(0))

    # When the state machine checks on it, then the stage gives up with an error MarkFailed records
    with pytest.raises(TranscriptionTimedOut, match="did not finish within 0 minutes") as raised:
        stages.check_transcription(job.job_id, 0, started["transcribe_job"])
    stages.fail(job.job_id, 0, "TranscriptionTimedOut", raised.value.detail)

    stored = JobRepository(TABLE_NAME, client("dynamodb")).get(job.job_id)
    assert stored is not None
    assert stored.status is JobStatus.FAILED
    assert stored.failure is not None
    assert (stored.failure.stage, stored.failure.error) == ("transcribing", "TranscriptionTimedOut")


def test_a_transcription_within_its_deadline_is_awaited(
    tenants: Tenants, stages: PipelineStages, transcribe: FakeTranscribe
) -> None:
    configure({"processing": {"transcription": {"provider": "aws_transcribe"}}})
    job = store_job(tenants.workspace(2), status=JobStatus.QUEUED, duration=75)
    started = stages.start_transcription(job.job_id, 0)

    assert stages.check_transcription(job.job_id, 0, started["transcribe_job"])["ready"] is False
    assert transcribe.checks == 1


def test_only_a_callrail_key_is_ever_sent_to_a_recordings_host(
    tenants: Tenants, stages: PipelineStages, transcribe: FakeTranscribe
) -> None:
    # Given a workspace whose CallRail key parameter names the webhook signing secret by mistake
    configure(
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
