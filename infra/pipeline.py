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
from constructs import Construct

from infra.state_machines import ERROR_PATH, lambda_task, logged_state_machine

EXECUTION_TIMEOUT = cdk.Duration.hours(2)  # above the stages' TRANSCRIPTION_DEADLINE, with room for the rest
TRANSCRIPT_POLL_INTERVAL = cdk.Duration.seconds(10)


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
        # MarkFailed catches nothing: catching its own errors would loop; a failure there fails the execution.
        mark_failed = lambda_task(self, "MarkFailed", stages.mark_failed, result_path="$.failure").next(
            # The execution fails with the stage's error, not MarkFailed's.
            sfn.Fail(self, "Failed", error_path=f"{ERROR_PATH}.Error", cause_path=f"{ERROR_PATH}.Cause")
        )
        start = lambda_task(
            self, "StartTranscription", stages.start_transcription, result_path="$.transcription", on_error=mark_failed
        )
        check = lambda_task(
            self, "CheckTranscription", stages.check_transcription, result_path="$.transcription", on_error=mark_failed
        )
        analyze = lambda_task(self, "Analyze", stages.analyze, result_path="$.analysis", on_error=mark_failed)
        publish = lambda_task(self, "Publish", stages.publish, result_path="$.publication", on_error=mark_failed)
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
