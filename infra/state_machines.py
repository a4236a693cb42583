"""How the app builds a state machine: standard, every transition logged to its own log group, tracing off, and
the cdk-nag findings every such machine has acknowledged with their reasons; and its Lambda tasks, each retried
with the same backoff."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.functions import log_group_of_stage
from infra.nag import acknowledge, acknowledge_wildcard, arn_of
from shared.pipeline.errors import TransientStageError

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


def logged_state_machine(
    scope: Construct,
    *,
    comment: str,
    definition: sfn.IChainable,
    timeout: cdk.Duration,
    functions: Iterable[lambda_.IFunction],
    functions_named: str,
) -> tuple[sfn.StateMachine, logs.LogGroup]:
    """The state machine ``StateMachine`` of ``scope`` and its log group ``Logs`` (a generated name: a fixed one
    would collide with the group a deleted stack left behind). ``functions`` are its Lambda tasks' functions,
    ``functions_named`` says what they are ("its five stage functions") in the acknowledgement."""
    log_group = log_group_of_stage(scope, "Logs")
    machine = sfn.StateMachine(
        scope,
        "StateMachine",
        comment=comment,
        state_machine_type=sfn.StateMachineType.STANDARD,
        definition_body=sfn.DefinitionBody.from_chainable(definition),
        timeout=timeout,
        tracing_enabled=False,
        logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
    )
    for function in functions:
        acknowledge_wildcard(
            machine,
            f"{arn_of(function)}:*",
            "Added by the Step Functions Lambda task: the function's own versions and aliases (qualified ARNs), "
            f"so the state machine still invokes only {functions_named}.",
        )
    acknowledge_wildcard(
        machine,
        "*",
        "Step Functions logging to CloudWatch Logs needs the log delivery actions (logs:CreateLogDelivery, "
        "logs:PutResourcePolicy and friends), which support no resource-level permissions.",
    )
    acknowledge(
        machine,
        "SF2",
        "X-Ray tracing is off for the whole app (the functions too): each task logs its job or batch id through "
        "Powertools and every state transition is in the state machine's log group, which is enough to follow a "
        "run; tracing can be switched on when there is a trace consumer.",
    )
    return machine, log_group


def lambda_task(
    scope: Construct,
    state_name: str,
    function: lambda_.IFunction,
    *,
    result_path: str,
    retry_errors: Sequence[str] = RETRY_ERRORS,
    payload: dict[str, Any] | None = None,
    on_error: sfn.IChainable | None = None,
) -> tasks.LambdaInvoke:
    """A Task that stores ``function``'s return value at ``result_path`` (its input is the state, or ``payload``),
    retries ``retry_errors`` with backoff, and sends what the retries do not cure to ``on_error`` with the error at
    ``ERROR_PATH``."""
    task = tasks.LambdaInvoke(
        scope,
        state_name,
        lambda_function=function,
        payload=sfn.TaskInput.from_object(payload) if payload is not None else None,
        payload_response_only=True,
        result_path=result_path,
        retry_on_service_exceptions=False,  # replaced by the retry below
    )
    task.add_retry(
        errors=list(retry_errors),
        interval=RETRY_INTERVAL,
        backoff_rate=RETRY_BACKOFF_RATE,
        max_attempts=RETRY_MAX_ATTEMPTS,
    )
    if on_error is not None:
        task.add_catch(on_error, errors=[sfn.Errors.ALL], result_path=ERROR_PATH)
    return task
