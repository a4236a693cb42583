"""The Lambda hook: moto's Step Functions run our handlers in-process, errors named by exception class."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.local import moto_hooks as lambda_hook

REGION = "us-east-1"


class TransientStageError(Exception):
    """Named like the pipeline's retryable error: the state machine matches on the class name."""


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("stub.txt", "stub")
    return buffer.getvalue()


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        iam = boto3.client("iam", region_name=REGION)
        role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        yield {
            "role": role,
            "lambda": boto3.client("lambda", region_name=REGION),
            "sfn": boto3.client("stepfunctions", region_name=REGION),
        }


def _function(aws: dict[str, Any], name: str) -> str:
    created = aws["lambda"].create_function(
        FunctionName=name, Runtime="python3.11", Role=aws["role"], Handler="x.y", Code={"ZipFile": _zip()}
    )
    return str(created["FunctionArn"])


def _run(aws: dict[str, Any], definition: dict[str, Any], payload: dict[str, Any], timeout: float = 30) -> Any:
    arn = aws["sfn"].create_state_machine(name="m", definition=json.dumps(definition), roleArn=aws["role"])[
        "stateMachineArn"
    ]
    execution = aws["sfn"].start_execution(stateMachineArn=arn, input=json.dumps(payload))["executionArn"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = aws["sfn"].describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.1)
    raise AssertionError("the execution did not finish in time")


def test_invoke_returns_the_handler_result_and_names_errors_by_class(aws: dict[str, Any]) -> None:
    _function(aws, "ok")
    _function(aws, "bad")

    def bad(event: Any) -> Any:
        raise TransientStageError("try again")

    with lambda_hook.registered({"ok": lambda event: {"echo": event}, "bad": bad}):
        good = aws["lambda"].invoke(FunctionName="ok", Payload=json.dumps({"a": 1}))
        failed = aws["lambda"].invoke(FunctionName="bad", Payload="{}")

    assert json.loads(good["Payload"].read()) == {"echo": {"a": 1}}
    assert "FunctionError" not in good
    assert failed["FunctionError"]
    error = json.loads(failed["Payload"].read())
    assert (error["errorType"], error["errorMessage"]) == ("TransientStageError", "try again")


def test_state_machine_retries_transient_errors_waits_and_catches_the_rest(aws: dict[str, Any]) -> None:
    # Given a flaky function (fails twice with TransientStageError), a Wait, and a function that always fails
    flaky_arn = _function(aws, "flaky")
    broken_arn = _function(aws, "broken")
    calls: list[str] = []

    def flaky(event: Any) -> Any:
        calls.append("flaky")
        if calls.count("flaky") < 3:
            raise TransientStageError("busy")
        return {"ready": True}

    def broken(event: Any) -> Any:
        calls.append("broken")
        raise ValueError("bad input")

    retry = [{"ErrorEquals": ["TransientStageError"], "IntervalSeconds": 1, "MaxAttempts": 4, "BackoffRate": 1}]
    catch = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}]
    definition = {
        "StartAt": "Flaky",
        "States": {
            "Flaky": {
                "Type": "Task",
                "Resource": flaky_arn,
                "ResultPath": "$.flaky",
                "Retry": retry,
                "Catch": catch,
                "Next": "Pause",
            },
            "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Broken"},
            "Broken": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": broken_arn, "Payload.$": "$"},
                "Retry": retry,
                "Catch": catch,
                "End": True,
            },
            "Failed": {"Type": "Pass", "End": True},
        },
    }

    # When it runs with the hook serving both functions
    with lambda_hook.registered({"flaky": flaky, "broken": broken}):
        started = time.monotonic()
        described = _run(aws, definition, {"job_id": "1"})
        took = time.monotonic() - started

    # Then the transient errors were retried, the Wait waited, and the ValueError went to the catcher
    assert described["status"] == "SUCCEEDED"
    output = json.loads(described["output"])
    assert output["flaky"] == {"ready": True}
    assert output["error"]["Error"] == "ValueError"
    assert json.loads(output["error"]["Cause"])["errorMessage"] == "bad input"
    assert calls == ["flaky", "flaky", "flaky", "broken"]
    assert took >= 3  # two 1 s retry intervals and the 1 s Wait


def test_install_is_idempotent_and_unserializable_results_are_marshal_errors() -> None:
    lambda_hook.install()
    lambda_hook.install()
    payload, errored, _ = lambda_hook.invocation_result(lambda event: {1, 2}, {})
    assert errored
    assert json.loads(payload)["errorType"] == "Runtime.MarshalError"
