"""State machine executions started at most once: the pipeline's (one per job and requeue) and the requeue
batches' (one per batch)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from shared.jobs.models import Job
from shared.processing.intake import execution_name


class StepFunctionsLauncher:
    """Starts the pipeline state machine for a job."""

    def __init__(self, state_machine_arn: str, stepfunctions: Any) -> None:
        self._arn = state_machine_arn
        self._sfn = stepfunctions

    def launch(self, job: Job) -> bool:
        """Start the job's run; ``False`` when a finished run of that name exists (a redelivery).

        Step Functions itself answers a repeated start of a *running* execution (same name and input) with that
        execution, so a redelivery while the run is under way is also a no-op.
        """
        return start_once(
            self._sfn,
            self._arn,
            execution_name(job),
            {"job_id": job.job_id, "requeue_count": job.requeue_count},
        )


def start_once(stepfunctions: Any, state_machine_arn: str, name: str, state: dict[str, Any]) -> bool:
    """Start the execution ``name``; ``False`` when it exists already (``ExecutionAlreadyExists``: a redelivery)."""
    try:
        stepfunctions.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(state))
    except ClientError as error:
        if error.response["Error"]["Code"] == "ExecutionAlreadyExists":
            return False
        raise
    return True
