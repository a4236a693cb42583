"""The pipeline's stages as the state machine runs them: each is a conditional status change, then its work.

Stages are safe to retry: a stage that finds the job already in its own status carries on (the state machine
retried it after the transition had been written), and anything else out of order is a permanent error.
Deliveries are at least once: a retried publish stage may deliver a webhook again, with a new signature, and a
retry that finds the job already finished by this run sends its ``Job Completed`` / ``Job Failed`` event again.

A run belongs to one requeue of its job (``run`` is the job's ``requeue_count`` when the run started, as in the
execution's name). Every transition requires the job to still be at that requeue, so a run overtaken by a newer
requeue (a stale stream record, an execution still retrying) stops with ``SupersededRunError`` and changes
nothing: the newer run owns the job, and the fail stage leaves the job alone too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.access import TenantPath
from shared.clock import now_iso, parse_timestamp
from shared.config.model import EffectiveConfig
from shared.errors import InvalidTransition, JobNotFound, RunSuperseded
from shared.jobs.models import Job, JobFailure, JobStatus
from shared.parameters import is_below
from shared.pipeline.analysis import Analysis, analyze_builtin
from shared.pipeline.artifacts import analysis_key, result_key, transcript_key
from shared.pipeline.errors import PermanentStageError, SupersededRunError, TranscriptionTimedOut
from shared.pipeline.publishing import WebhookDelivery
from shared.pipeline.transcripts import Transcript, transcript_from_source
from shared.ports import Analyzer, ArtifactStore, ConfigReader, EventPublisher, JobStore, Transcriber

# Where a job can be when a stage fails; anything else is already finished.
_IN_FLIGHT = (JobStatus.QUEUED, JobStatus.TRANSCRIBING, JobStatus.ANALYZING, JobStatus.PUBLISHING)
# How long a provider may take to transcribe one call. The state machine's own timeout is longer (infra.pipeline
# checks this), so a transcription that never finishes fails the job through MarkFailed instead of leaving it
# ``transcribing`` when the execution times out.
TRANSCRIPTION_DEADLINE = timedelta(minutes=90)


def transcription_job_name(job_id: str, requeue_count: int) -> str:
    return f"job-{job_id}-{requeue_count}"


@dataclass
class StageServices:
    """What the stages use: ports (``shared.ports``) the handler wires to AWS and a unit test to fakes."""

    jobs: JobStore
    config: ConfigReader
    artifacts: ArtifactStore
    events: EventPublisher
    transcribe: Callable[[], Transcriber]
    bedrock: Callable[[str], Analyzer]
    webhooks: WebhookDelivery
    secret: Callable[[str], bytes]


class PipelineStages:
    """Transcription, analysis, publishing and failure, one method per state machine task."""

    def __init__(self, services: StageServices) -> None:
        self._s = services

    def start_transcription(self, job_id: str, run: int) -> dict[str, Any]:
        job = self._advance(job_id, run, JobStatus.QUEUED, JobStatus.TRANSCRIBING, "transcription started")
        settings = self._config(job).processing.transcription
        if settings.provider == "source":
            return self._transcript_ready(job, transcript_from_source(job))
        name = transcription_job_name(job_id, run)
        self._s.transcribe().start(job, name, settings.language_code, recording_headers=self._recording_headers(job))
        return {"ready": False, "transcribe_job": name, "transcript_key": None}

    def check_transcription(self, job_id: str, run: int, transcribe_job: str) -> dict[str, Any]:
        job = self._require(job_id, run, JobStatus.TRANSCRIBING)
        transcript = self._s.transcribe().check(transcribe_job)
        if transcript is not None:
            return self._transcript_ready(job, transcript, transcribe_job)
        started = next(event.at for event in reversed(job.history) if event.status is JobStatus.TRANSCRIBING)
        if datetime.now(UTC) - parse_timestamp(started) > TRANSCRIPTION_DEADLINE:
            minutes = int(TRANSCRIPTION_DEADLINE.total_seconds() // 60)
            raise TranscriptionTimedOut(f"Transcription job {transcribe_job} did not finish within {minutes} minutes.")
        return {"ready": False, "transcribe_job": transcribe_job, "transcript_key": None}

    def analyze(self, job_id: str, run: int) -> dict[str, Any]:
        job = self._advance(job_id, run, JobStatus.TRANSCRIBING, JobStatus.ANALYZING, "analysis started")
        settings = self._config(job).processing.analysis
        transcript = Transcript.model_validate(self._s.artifacts.get_json(transcript_key(job_id)))
        if settings.provider == "bedrock":
            analysis = self._s.bedrock(settings.bedrock_model_id).analyze(transcript, settings.keywords)
        else:
            analysis = analyze_builtin(transcript, settings.keywords)
        return {"analysis_key": self._s.artifacts.put_json(analysis_key(job_id), analysis)}

    def publish(self, job_id: str, run: int) -> dict[str, Any]:
        try:
            job = self._advance(job_id, run, JobStatus.ANALYZING, JobStatus.PUBLISHING, "publishing started")
        except SupersededRunError:
            raise
        except PermanentStageError:
            finished = self._s.jobs.get(job_id)
            if finished is None or finished.status is not JobStatus.COMPLETED or finished.result is None:
                raise
            # A retry after this run completed the job: only its event can be missing, so it is sent again.
            self._s.events.job_completed(finished, str(finished.result["result_key"]))
            return {
                "result_key": finished.result["result_key"],
                "webhooks_delivered": finished.result.get("webhooks_delivered", 0),
            }
        webhooks = self._config(job).processing.webhooks
        analysis = Analysis.model_validate(self._s.artifacts.get_json(analysis_key(job_id)))
        transcript = self._s.artifacts.get_json(transcript_key(job_id))
        stored_key = result_key(job_id)
        summary = {
            "result_key": stored_key,
            "summary": analysis.summary,
            "sentiment": analysis.sentiment.label,
            "sentiment_score": analysis.sentiment.score,
            "topics": analysis.topics,
            "keyword_hits": analysis.keyword_hits,
            "word_count": analysis.word_count,
        }
        document = {
            "event": "job.completed",
            "job_id": job.job_id,
            "workspace_id": job.workspace_id,
            "organization_id": job.organization_id,
            "partner_id": job.partner_id,
            "status": JobStatus.COMPLETED.value,
            "source": job.source,
            "source_id": job.source_id,
            "duration_seconds": job.duration_seconds,
            "analysis": analysis.model_dump(mode="json"),
            "transcript": transcript,
        }
        self._s.artifacts.put_json(stored_key, document)
        delivered = 0
        if webhooks.urls:
            if not webhooks.secret_parameter:
                raise PermanentStageError("Webhook URLs are configured without processing.webhooks.secret_parameter.")
            secret = self._s.secret(webhooks.secret_parameter)
            body = json.dumps({key: document[key] for key in document if key != "transcript"}).encode()
            delivered = self._s.webhooks.deliver_all(webhooks.urls, body, secret)
        done = self._transition(
            job_id,
            run,
            JobStatus.PUBLISHING,
            JobStatus.COMPLETED,
            cause=f"published; {delivered} webhook(s) delivered",
            set_fields={"result": {**summary, "webhooks_delivered": delivered}},
        )
        self._s.events.job_completed(done, stored_key)
        return {"result_key": stored_key, "webhooks_delivered": delivered}

    def fail(self, job_id: str, run: int, error: str, message: str) -> dict[str, Any]:
        """Record why the run failed and end the job ``failed``.

        A job another requeue owns now, or one that finished otherwise, is left as it is. A job this run already
        failed (a retry after its event could not be sent) gets its ``Job Failed`` event again. A job this run
        completed gets here only when publishing failed after the job's last write (its event could not be sent,
        or the function timed out): the ``Job Completed`` event is sent again, and if that fails too the error is
        raised, so the execution fails and MarkFailed's errors alarm tells an operator.
        """
        job = self._s.jobs.get(job_id)
        if job is None or job.requeue_count != run:
            return {"recorded": False}
        if job.status is JobStatus.FAILED and job.failure is not None:
            self._s.events.job_failed(job, job.failure.model_dump())
            return {"recorded": True, **job.failure.model_dump()}
        if job.status is JobStatus.COMPLETED and job.result is not None:
            self._s.events.job_completed(job, str(job.result["result_key"]))
            return {"recorded": False, "completed_event_sent": True}
        if job.status not in _IN_FLIGHT:
            return {"recorded": False}
        failure = JobFailure(stage=job.status.value, error=error, message=message[:1000])
        try:
            failed = self._transition(
                job_id,
                run,
                job.status,
                JobStatus.FAILED,
                cause=f"{failure.stage} failed: {error}",
                set_fields={"failure": failure.model_dump()},
            )
        except SupersededRunError:
            return {"recorded": False}
        self._s.events.job_failed(failed, failure.model_dump())
        return {"recorded": True, **failure.model_dump()}

    def _recording_headers(self, job: Job) -> dict[str, str] | None:
        """CallRail serves recordings only to the account's API key (``Authorization: Token token="..."``)."""
        callrail = self._config(job).integrations.callrail
        if job.source != "callrail" or not callrail.api_key_parameter:
            return None
        keys = self._s.config.paths.callrail_keys
        if not is_below(callrail.api_key_parameter, keys):
            # Whatever it names would be sent to the recording's host: only a CallRail key may be.
            raise PermanentStageError(
                f"integrations.callrail.api_key_parameter {callrail.api_key_parameter} is not under {keys}/."
            )
        key = self._s.secret(callrail.api_key_parameter).decode()
        return {"Authorization": f'Token token="{key}"'}

    def _transcript_ready(self, job: Job, transcript: Transcript, transcribe_job: str | None = None) -> dict[str, Any]:
        key = self._s.artifacts.put_json(transcript_key(job.job_id), transcript)
        return {"ready": True, "transcribe_job": transcribe_job, "transcript_key": key}

    def _config(self, job: Job) -> EffectiveConfig:
        path = TenantPath(partner_id=job.partner_id, organization_id=job.organization_id, workspace_id=job.workspace_id)
        return self._s.config.resolve(path).config

    def _require(self, job_id: str, run: int, status: JobStatus) -> Job:
        job = self._s.jobs.get(job_id)
        if job is None:
            raise PermanentStageError(f"Job {job_id} no longer exists.")
        if job.requeue_count != run:
            raise SupersededRunError(
                f"Job {job_id} was requeued (requeue #{job.requeue_count}) after this run (requeue #{run}) began."
            )
        if job.status is not status:
            raise PermanentStageError(f"Job {job_id} is '{job.status}', expected '{status}'.")
        return job

    def _transition(
        self,
        job_id: str,
        run: int,
        source: JobStatus,
        target: JobStatus,
        *,
        cause: str,
        set_fields: dict[str, Any] | None = None,
    ) -> Job:
        try:
            return self._s.jobs.transition(
                job_id, source, target, now=now_iso(), cause=cause, set_fields=set_fields, requeue_count=run
            )
        except RunSuperseded as superseded:
            raise SupersededRunError(superseded.detail) from None
        except JobNotFound:
            raise PermanentStageError(f"Job {job_id} no longer exists.") from None

    def _advance(self, job_id: str, run: int, source: JobStatus, target: JobStatus, cause: str) -> Job:
        try:
            return self._transition(job_id, run, source, target, cause=cause)
        except InvalidTransition:
            # A retry of this stage after its transition was written carries on from where it was.
            return self._require(job_id, run, target)
