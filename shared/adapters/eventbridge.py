"""The event bus: the pipeline's ``Job Completed`` and ``Job Failed``, and ``Requeue Batch Completed``."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.jobs.models import Job
from shared.pipeline.errors import PermanentStageError, TransientStageError

EVENT_SOURCE = "gensail.pipeline"
JOB_COMPLETED = "Job Completed"
JOB_FAILED = "Job Failed"
REQUEUE_EVENT_SOURCE = "gensail.requeue"
REQUEUE_BATCH_COMPLETED = "Requeue Batch Completed"


class EventBridgePublisher:
    """Announces finished jobs on the pipeline's event bus."""

    def __init__(self, bus_name: str, events: Any) -> None:
        self.bus_name = bus_name
        self._events = events

    def job_completed(self, job: Job, result_key: str) -> None:
        """``Job Completed`` with the job's tenancy and where its result is stored."""
        self._put(JOB_COMPLETED, {**_job_detail(job, "completed"), "result_key": result_key})

    def job_failed(self, job: Job, failure: dict[str, Any]) -> None:
        """``Job Failed`` with the job's tenancy and the failure (``{stage, error, message}``)."""
        self._put(JOB_FAILED, {**_job_detail(job, "failed"), "failure": failure})

    def requeue_batch_completed(self, detail: dict[str, Any]) -> None:
        """``Requeue Batch Completed`` with the ``requeue_batch.completed`` event (final status and counts)."""
        self._put(REQUEUE_BATCH_COMPLETED, detail, source=REQUEUE_EVENT_SOURCE)

    def _put(self, detail_type: str, detail: dict[str, Any], source: str = EVENT_SOURCE) -> None:
        entry = {
            "Source": source,
            "DetailType": detail_type,
            "Detail": json.dumps(detail, separators=(",", ":")),
            "EventBusName": self.bus_name,
        }
        try:
            response = self._events.put_events(Entries=[entry])
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if code in ("ThrottlingException", "InternalException", "InternalFailure") or status >= 500:
                raise TransientStageError(f"PutEvents {detail_type} failed ({code}); retry later") from error
            raise PermanentStageError(f"PutEvents {detail_type} failed ({code}): {error}") from error
        except BotoCoreError as error:
            raise TransientStageError(f"PutEvents {detail_type} failed: {error}") from error
        if response.get("FailedEntryCount", 0):
            failed: dict[str, Any] = next((item for item in response.get("Entries", []) if item.get("ErrorCode")), {})
            raise TransientStageError(
                f"PutEvents {detail_type} was not accepted ({failed.get('ErrorCode')}: {failed.get('ErrorMessage')})"
            )


def _job_detail(job: Job, status: str) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "workspace_id": job.workspace_id,
        "organization_id": job.organization_id,
        "partner_id": job.partner_id,
        "status": status,
        "requeue_count": job.requeue_count,
    }
