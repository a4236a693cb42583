"""The pipeline's stages through in-memory ports: a job from ``queued`` to ``completed`` or ``failed``."""

from __future__ import annotations

from typing import Any

import pytest

from shared.config.hierarchy import ConfigLevel
from shared.jobs.models import Job, JobStatus
from shared.pipeline.errors import PermanentStageError, SupersededRunError
from shared.pipeline.publishing import WebhookDelivery
from shared.pipeline.stages import PipelineStages, StageServices
from shared.pipeline.transcripts import Segment, Transcript
from shared.ports import Analyzer
from tests.unit.fakes import FakeArtifacts, FakeConfig, FakeEvents, FakeJobStore, FakeTranscriber

TRANSCRIPT = "Agent: Thanks for calling, how can I help?\nCaller: I need my carpets cleaning next week."


def queued(job_id: str = "1", requeue_count: int = 0) -> Job:
    return Job(
        job_id=job_id,
        partner_id="p1",
        organization_id="o1",
        workspace_id="w1",
        status=JobStatus.QUEUED,
        created_at="2026-06-01T00:00:00Z",
        updated_at="2026-06-01T00:00:00Z",
        source="callrail",
        duration_seconds=90,
        source_metadata={"transcription": TRANSCRIPT, "requeue_count": requeue_count},
    )


class Pipeline:
    def __init__(self, *jobs: Job) -> None:
        self.jobs = FakeJobStore(*jobs)
        self.config = FakeConfig()
        self.artifacts = FakeArtifacts()
        self.events = FakeEvents()
        self.transcriber = FakeTranscriber()
        self.secrets: dict[str, bytes] = {}

        def no_bedrock(model_id: str) -> Analyzer:
            raise AssertionError("the builtin analysis needs no model")

        self.stages = PipelineStages(
            StageServices(
                jobs=self.jobs,
                config=self.config,
                artifacts=self.artifacts,
                events=self.events,
                transcribe=lambda: self.transcriber,
                bedrock=no_bedrock,
                webhooks=WebhookDelivery(attempts=1),
                secret=self.secrets.__getitem__,
            )
        )

    def configure(self, document: dict[str, Any]) -> None:
        self.config.set(ConfigLevel.WORKSPACE, "w1", document)


def test_a_call_with_its_own_transcript_goes_through_to_a_stored_result_and_a_completed_event() -> None:
    pipeline = Pipeline(queued())
    pipeline.configure({"processing": {"analysis": {"keywords": ["carpets"]}}})

    started = pipeline.stages.start_transcription("1", 0)
    pipeline.stages.analyze("1", 0)
    published = pipeline.stages.publish("1", 0)

    assert started["ready"] is True
    job = pipeline.jobs.jobs["1"]
    assert job.status is JobStatus.COMPLETED
    assert [event.status for event in job.history] == [
        JobStatus.TRANSCRIBING,
        JobStatus.ANALYZING,
        JobStatus.PUBLISHING,
        JobStatus.COMPLETED,
    ]
    assert job.result is not None
    assert job.result["keyword_hits"] == {"carpets": 1}
    result = pipeline.artifacts.get_json(published["result_key"])
    assert result["event"] == "job.completed"
    assert result["transcript"]["segments"]
    assert pipeline.events.sent == [("Job Completed", "1", {"result_key": published["result_key"]})]


def test_a_retried_stage_carries_on_and_a_retried_publish_only_sends_its_event_again() -> None:
    pipeline = Pipeline(queued())
    first = pipeline.stages.start_transcription("1", 0)
    assert pipeline.stages.start_transcription("1", 0) == first  # the retry finds it transcribing
    assert [event.status for event in pipeline.jobs.jobs["1"].history] == [JobStatus.TRANSCRIBING]
    pipeline.stages.analyze("1", 0)
    pipeline.stages.publish("1", 0)

    pipeline.stages.publish("1", 0)

    assert pipeline.jobs.jobs["1"].status is JobStatus.COMPLETED
    assert [name for name, _, _ in pipeline.events.sent] == ["Job Completed", "Job Completed"]


def test_amazon_transcribe_runs_under_the_requeue_and_the_pipeline_waits_for_it() -> None:
    pipeline = Pipeline(queued(requeue_count=1))
    pipeline.configure({"processing": {"transcription": {"provider": "aws_transcribe", "language_code": "es-US"}}})

    started = pipeline.stages.start_transcription("1", 1)
    waiting = pipeline.stages.check_transcription("1", 1, started["transcribe_job"])
    pipeline.transcriber.finished["job-1-1"] = Transcript(
        text="Hello", source="aws_transcribe", segments=[Segment(speaker="agent", start=0, end=2, text="Hello")]
    )
    done = pipeline.stages.check_transcription("1", 1, started["transcribe_job"])

    assert pipeline.transcriber.started == [("job-1-1", "es-US", None)]
    assert waiting["ready"] is False
    assert done["ready"] is True
    assert pipeline.artifacts.exists(done["transcript_key"])


def test_a_run_overtaken_by_a_requeue_stops_and_leaves_the_job_to_the_newer_run() -> None:
    pipeline = Pipeline(queued(requeue_count=2))

    with pytest.raises(SupersededRunError):
        pipeline.stages.start_transcription("1", 1)
    assert pipeline.stages.fail("1", 1, "SupersededRunError", "overtaken") == {"recorded": False}

    assert pipeline.jobs.jobs["1"] == queued(requeue_count=2)
    assert pipeline.events.sent == []
    # while the run of the current requeue proceeds
    assert pipeline.stages.start_transcription("1", 2)["ready"] is True


def test_a_failed_stage_ends_the_job_failed_with_why_and_announces_it() -> None:
    # Given a call that came without a transcript, under the `source` provider
    pipeline = Pipeline(queued().model_copy(update={"source_metadata": {}}))
    with pytest.raises(PermanentStageError) as raised:
        pipeline.stages.start_transcription("1", 0)

    # When the state machine's catch hands the error to the fail stage
    recorded = pipeline.stages.fail("1", 0, "PermanentStageError", raised.value.detail)

    # Then the job is failed with {stage, error, message} and the bus says so
    job = pipeline.jobs.jobs["1"]
    assert recorded["recorded"] is True
    assert job.status is JobStatus.FAILED
    assert job.failure is not None
    assert job.failure.model_dump() == {
        "stage": "transcribing",
        "error": "PermanentStageError",
        "message": raised.value.detail,
    }
    assert pipeline.events.sent == [("Job Failed", "1", {"failure": job.failure.model_dump()})]


def test_a_failure_reported_for_a_finished_job_leaves_it_alone() -> None:
    skipped = queued().model_copy(update={"status": JobStatus.SKIPPED})
    pipeline = Pipeline(skipped)

    assert pipeline.stages.fail("1", 0, "States.Timeout", "late") == {"recorded": False}

    assert pipeline.jobs.jobs["1"] == skipped
    assert pipeline.events.sent == []


def test_webhooks_without_a_signing_secret_fail_the_publish_before_anything_is_sent() -> None:
    pipeline = Pipeline(queued())
    pipeline.configure({"processing": {"webhooks": {"urls": ["https://hooks.example.com/calls"]}}})
    pipeline.stages.start_transcription("1", 0)
    pipeline.stages.analyze("1", 0)

    with pytest.raises(PermanentStageError, match="secret_parameter"):
        pipeline.stages.publish("1", 0)

    assert pipeline.jobs.jobs["1"].status is JobStatus.PUBLISHING
    assert pipeline.events.sent == []
