"""The processing state machine (docs/pipeline.md): transcribe, wait for the transcript, analyze, publish.

Every Task invokes its stage function with ``payload_response_only`` (the Task's ``Resource`` is the function
ARN, so the function's return value is the task result), retries transient errors and sends any other error
to ``MarkFailed``, which records it on the job before the execution ends in ``Failed``.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.state_machines import logged_state_machine
from shared.pipeline.errors import TransientStageError

EXECUTION_TIMEOUT = cdk.Duration.hours(2)  # above the stages' TRANSCRIPTION_DEADLINE, with room for the rest
TRANSCRIPT_POLL_INTERVAL = cdk.Duration.seconds(10)

# Lambda's own transient failures and the stages' "try again later" error.
RETRY_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    TransientStageError.__name__,
)
RETRY_INTERVAL = cdk.Duration.seconds(2)
RETRY_BACKOFF_RATE = 2
RETRY_MAX_ATTEMPTS = 4
ERROR_PATH = "$.error"


@dataclass(frozen=True)
class StageFunctions:
    """The five functions the state machine invokes, one per Task."""

    start_transcription: lambda_.IFunction
    check_transcription: lambda_.IFunction
    analyze: lambda_.IFunction
    publish: lambda_.IFunction
    mark_failed: lambda_.IFunction

    def all(self) -> tuple[lambda_.IFunction, ...]:
        return (
            self.start_transcription,
            self.check_transcription,
            self.analyze,
            self.publish,
            self.mark_failed,
        )


class Pipeline(Construct):
    """The Standard state machine over the stage functions, logging every event (without execution data)."""

    def __init__(self, scope: Construct, construct_id: str, *, stages: StageFunctions) -> None:
        super().__init__(scope, construct_id)
        mark_failed = self._task("MarkFailed", stages.mark_failed, "$.failure").next(
            # The execution fails with the stage's error, not MarkFailed's.
            sfn.Fail(self, "Failed", error_path=f"{ERROR_PATH}.Error", cause_path=f"{ERROR_PATH}.Cause")
        )
        start = self._task("StartTranscription", stages.start_transcription, "$.transcription", mark_failed)
        check = self._task("CheckTranscription", stages.check_transcription, "$.transcription", mark_failed)
        analyze = self._task("Analyze", stages.analyze, "$.analysis", mark_failed)
        publish = self._task("Publish", stages.publish, "$.publication", mark_failed)
        wait = sfn.Wait(self, "WaitForTranscript", time=sfn.WaitTime.duration(TRANSCRIPT_POLL_INTERVAL))
        transcript_ready = (
            sfn.Choice(self, "TranscriptReady?")
            .when(
                sfn.Condition.boolean_equals("$.transcription.ready", True),
                analyze.next(publish).next(sfn.Succeed(self, "Completed")),
            )
            .otherwise(wait.next(check))
        )
        check.next(transcript_ready)

        self.state_machine, self.log_group = logged_state_machine(
            self,
            comment="Gensail job pipeline (docs/pipeline.md)",
            definition=start.next(transcript_ready),
            timeout=EXECUTION_TIMEOUT,
            functions=stages.all(),
            functions_named="its five stage functions",
        )

    def _task(
        self,
        state_name: str,
        function: lambda_.IFunction,
        result_path: str,
        on_error: sfn.IChainable | None = None,
    ) -> tasks.LambdaInvoke:
        """A Task that stores ``function``'s return value at ``result_path``; errors go to ``on_error``."""
        task = tasks.LambdaInvoke(
            self,
            state_name,
            lambda_function=function,
            payload_response_only=True,
            result_path=result_path,
            retry_on_service_exceptions=False,  # replaced by the contract's retry below
        )
        task.add_retry(
            errors=list(RETRY_ERRORS),
            interval=RETRY_INTERVAL,
            backoff_rate=RETRY_BACKOFF_RATE,
            max_attempts=RETRY_MAX_ATTEMPTS,
        )
        # MarkFailed catches nothing: catching its own errors would loop; a failure there fails the execution.
        if on_error is not None:
            task.add_catch(on_error, errors=[sfn.Errors.ALL], result_path=ERROR_PATH)
        return task
