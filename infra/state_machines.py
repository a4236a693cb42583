"""How the app builds a state machine: standard, every transition logged to its own log group, tracing off, and
the cdk-nag findings every such machine has acknowledged with their reasons."""

from __future__ import annotations

from collections.abc import Iterable

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.functions import log_group_of_stage
from infra.nag import acknowledge, acknowledge_wildcard, arn_of


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
