"""The pipeline's state machine: one execution per job and requeue, started at most once."""

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
        try:
            self._sfn.start_execution(
                stateMachineArn=self._arn,
                name=execution_name(job),
                input=json.dumps({"job_id": job.job_id, "requeue_count": job.requeue_count}),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ExecutionAlreadyExists":
                return False
            raise
        return True
