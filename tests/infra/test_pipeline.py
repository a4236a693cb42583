"""The processing pipeline as synthesized, checked against docs/pipeline.md (the contract the handlers follow)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared import schema
from shared.pipeline.publishing import DELIVERY_BUDGET_SECONDS, attempt_seconds
from shared.pipeline.stages import TRANSCRIPTION_DEADLINE
from tests.infra.conftest import Synthesized
from tests.infra.helpers import (
    ANALYZE,
    CHECK,
    FAIL,
    PUBLISH,
    RECONCILER,
    SSM,
    STAGES,
    START,
    WORKER,
    failure_destination_grants,
    function_grants,
    mapping_of,
    only,
    pipeline_machine,
    render,
    role_grants,
    schedule_dead_letter_queue,
    stack_ids,
)

pytestmark = pytest.mark.slow


RETRY = [
    {
        "ErrorEquals": [
            "Lambda.ServiceException",
            "Lambda.AWSLambdaException",
            "Lambda.SdkClientException",
            "Lambda.TooManyRequestsException",
            "TransientStageError",
        ],
        "IntervalSeconds": 2,
        "MaxAttempts": 4,
        "BackoffRate": 2,
    }
]
CATCH = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "MarkFailed"}]
# state -> (handler, result path, next state)
TASKS = {
    "StartTranscription": (START, "$.transcription", "TranscriptReady?"),
    "CheckTranscription": (CHECK, "$.transcription", "TranscriptReady?"),
    "Analyze": (ANALYZE, "$.analysis", "Publish"),
    "Publish": (PUBLISH, "$.publication", "Completed"),
    "MarkFailed": (FAIL, "$.failure", "Failed"),
}


def _definition(synthesized: Synthesized) -> dict[str, Any]:
    """The state machine definition with every function ARN replaced by ``arn:...:function:<logical id>``."""
    _, state_machine = pipeline_machine(synthesized)
    separator, parts = state_machine["Properties"]["DefinitionString"]["Fn::Join"]
    text = []
    for part in parts:
        if isinstance(part, str):
            text.append(part)
        else:  # the local runtime resolves nothing but strings and GetAtt Arn
            logical_id, attribute = part["Fn::GetAtt"]
            assert attribute == "Arn"
            text.append(f"arn:aws:lambda:us-east-1:123456789012:function:{logical_id}")
    definition: dict[str, Any] = json.loads(separator.join(text))
    return definition


# --- the state machine -----------------------------------------------------------------------------------------


def test_state_machine_has_the_contracts_states_and_transitions(synthesized: Synthesized) -> None:
    definition = _definition(synthesized)
    states = definition["States"]

    assert definition["StartAt"] == "StartTranscription"
    assert definition["TimeoutSeconds"] == 2 * 3600
    assert set(states) == {*TASKS, "TranscriptReady?", "WaitForTranscript", "Completed", "Failed"}
    assert states["TranscriptReady?"] == {
        "Type": "Choice",
        "Choices": [{"Variable": "$.transcription.ready", "BooleanEquals": True, "Next": "Analyze"}],
        "Default": "WaitForTranscript",
    }
    assert states["WaitForTranscript"] == {"Type": "Wait", "Seconds": 10, "Next": "CheckTranscription"}
    assert states["Completed"] == {"Type": "Succeed"}
    assert states["Failed"] == {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}


def test_the_publish_stage_outlasts_its_webhook_budget(synthesized: Synthesized) -> None:
    # The webhooks get DELIVERY_BUDGET_SECONDS, plus one attempt begun just before it ends; the rest of the stage
    # (the stored artifacts, the secret, the job's update, the event) needs well under the 30 s left over.
    timeout = synthesized.template_json["Resources"][synthesized.function_id(PUBLISH)]["Properties"]["Timeout"]
    assert timeout >= DELIVERY_BUDGET_SECONDS + attempt_seconds() + 30


def test_a_transcription_gives_up_well_before_the_execution_times_out(synthesized: Synthesized) -> None:
    # The check stage fails a transcription past its deadline, so MarkFailed records it; an execution timeout
    # would skip every Catch and leave the job transcribing. The rest of the run needs the remaining time.
    definition = _definition(synthesized)
    remaining = definition["TimeoutSeconds"] - TRANSCRIPTION_DEADLINE.total_seconds()
    functions = synthesized.template_json["Resources"]
    later_stages = sum(
        functions[synthesized.function_id(handler)]["Properties"]["Timeout"] for handler in (ANALYZE, PUBLISH, FAIL)
    )
    assert remaining >= later_stages + 2 * definition["States"]["WaitForTranscript"]["Seconds"]


@pytest.mark.parametrize("state_name", list(TASKS))
def test_every_task_invokes_its_stage_with_the_contracts_retry_and_catch(
    synthesized: Synthesized, state_name: str
) -> None:
    handler, result_path, next_state = TASKS[state_name]
    state = _definition(synthesized)["States"][state_name]
    function_id = synthesized.function_id(handler)

    assert state["Type"] == "Task"
    # payload_response_only: the function ARN itself, so the function's return value is the result
    assert state["Resource"] == f"arn:aws:lambda:us-east-1:123456789012:function:{function_id}"
    assert "Parameters" not in state
    assert state["ResultPath"] == result_path
    assert state["Next"] == next_state
    assert state["Retry"] == RETRY
    # MarkFailed catches nothing: its own failure ends the execution (catching it would loop)
    assert state.get("Catch") == (None if state_name == "MarkFailed" else CATCH)


def test_state_machine_is_standard_logs_every_event_without_data_and_is_not_traced(synthesized: Synthesized) -> None:
    _, state_machine = pipeline_machine(synthesized)
    properties = state_machine["Properties"]
    logging = properties["LoggingConfiguration"]
    (destination,) = logging["Destinations"]
    log_group_id = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]

    assert properties.get("StateMachineType", "STANDARD") == "STANDARD"
    assert (logging["Level"], logging["IncludeExecutionData"]) == ("ALL", False)
    assert properties.get("TracingConfiguration", {"Enabled": False}) == {"Enabled": False}
    assert synthesized.template_json["Resources"][log_group_id]["Properties"]["RetentionInDays"] == 30


def test_state_machine_may_invoke_exactly_the_five_stage_functions(synthesized: Synthesized) -> None:
    _, state_machine = pipeline_machine(synthesized)
    grants = role_grants(synthesized, state_machine["Properties"]["RoleArn"]["Fn::GetAtt"][0])
    functions = [synthesized.function_id(handler) for handler in STAGES]

    assert grants.pop("lambda:InvokeFunction") == {
        form for function_id in functions for form in (f"<{function_id}.Arn>", f"<{function_id}.Arn>:*")
    }
    assert {action.split(":")[0] for action in grants} == {"logs"}  # log delivery only


def _expected_grants(synthesized: Synthesized) -> dict[str, dict[str, set[str]]]:
    ids = stack_ids(synthesized)
    table = {"dynamodb:GetItem": {f"<{ids['table']}.Arn>"}, "dynamodb:UpdateItem": {f"<{ids['table']}.Arn>"}}
    config = {action: {f"{SSM}/gensail/dev/config/*"} for action in ("ssm:GetParameters", "ssm:GetParameter")}
    bucket = f"<{ids['bucket']}.Arn>"
    start_execution = {"states:StartExecution": {f"<{ids['state_machine']}>"}}
    put_events = {"events:PutEvents": {f"<{ids['bus']}.Arn>"}}

    def objects(read: list[str], write: list[str]) -> dict[str, set[str]]:
        return {
            "s3:GetObject": {f"{bucket}/{key}" for key in read},
            "s3:ListBucket": {bucket},
            "s3:PutObject": {f"{bucket}/{key}" for key in write},
        }

    indexes = {f"<{ids['table']}.Arn>/index/{index.name}" for index in schema.GLOBAL_INDEXES}

    # SecureStrings: webhook signing secrets anywhere under the secrets path (publish), CallRail API keys under
    # their own part of it (start, for recordings).
    def secrets(path: str) -> dict[str, set[str]]:
        return {
            "ssm:GetParameter": {f"{SSM}/gensail/dev/config/*", f"{SSM}{path}/*"},
            "kms:Decrypt": {"arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*"},
        }

    return {
        START: {
            **table,
            **config,
            **objects(["recordings/*"], ["recordings/*", "transcripts/*.json", "transcribe/*.json"]),
            "transcribe:StartTranscriptionJob": {"*"},
            **secrets("/gensail/dev/secrets/callrail"),
        },
        CHECK: {
            **table,
            **config,
            **objects(["transcribe/*.json"], ["transcripts/*.json"]),
            "transcribe:GetTranscriptionJob": {"*"},
        },
        ANALYZE: {
            **table,
            **config,
            **objects(["transcripts/*.json"], ["analysis/*.json"]),
            "bedrock:InvokeModel": {
                "arn:<AWS::Partition>:bedrock:*::foundation-model/*",
                "arn:<AWS::Partition>:bedrock:<AWS::Region>:<AWS::AccountId>:inference-profile/*",
            },
        },
        PUBLISH: {
            **table,
            **config,
            **objects(["transcripts/*.json", "analysis/*.json"], ["results/*.json"]),
            **put_events,
            **secrets("/gensail/dev/secrets/webhooks"),
        },
        FAIL: {**table, **config, **put_events},
        RECONCILER: {
            **table,
            **config,
            **start_execution,
            "dynamodb:Query": indexes,
            **failure_destination_grants(schedule_dead_letter_queue(synthesized, RECONCILER)),
            "dynamodb:BatchGetItem": {f"<{ids['table']}.Arn>"},  # config heads only (see the test below)
        },
    }


@pytest.mark.parametrize("handler", [START, CHECK, ANALYZE, PUBLISH, FAIL, RECONCILER])
def test_each_function_is_allowed_exactly_what_its_stage_does(synthesized: Synthesized, handler: str) -> None:
    expected = _expected_grants(synthesized)[handler]

    assert function_grants(synthesized, handler) == expected


def test_worker_is_allowed_its_items_config_execution_stream_and_dead_letter_queue(
    synthesized: Synthesized,
) -> None:
    grants = function_grants(synthesized, WORKER)
    expected = _expected_grants(synthesized)[RECONCILER]
    del expected["dynamodb:Query"]  # the worker reads no index
    for action in failure_destination_grants(schedule_dead_letter_queue(synthesized, RECONCILER)):
        del expected[action]  # nor has the reconciler's schedule
    stream = {f"<{stack_ids(synthesized)['table']}.StreamArn>"}
    stream_actions = {action for action, resources in grants.items() if resources == stream}
    queue_actions = {action for action in grants if action.startswith("sqs:")}

    assert {action: grants[action] for action in set(grants) - stream_actions - queue_actions} == expected
    assert stream_actions == {
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
    }
    assert queue_actions <= {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}


@pytest.mark.parametrize("handler", STAGES)
def test_stage_functions_never_scan_put_or_delete_items(synthesized: Synthesized, handler: str) -> None:
    grants = function_grants(synthesized, handler)

    assert not {"dynamodb:Scan", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"} & set(grants)


# The functions that read SecureStrings: CallRail keys (start, for recordings, and the poller) and webhook
# secrets (publish).
@pytest.mark.parametrize(
    ("handler", "path"),
    [
        (START, "/gensail/dev/secrets/callrail/*"),
        ("functions.poller.workspace.lambda_handler", "/gensail/dev/secrets/callrail/*"),
        (PUBLISH, "/gensail/dev/secrets/webhooks/*"),
    ],
)
def test_kms_decrypt_only_through_ssm_for_the_secrets_path(synthesized: Synthesized, handler: str, path: str) -> None:
    function = synthesized.template_json["Resources"][synthesized.function_id(handler)]
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    (statement,) = [
        statement
        for policy in synthesized.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Action"] == "kms:Decrypt"
    ]

    assert render(statement["Condition"]["StringEquals"]["kms:ViaService"]) == "ssm.<AWS::Region>.<AWS::URLSuffix>"
    assert render(statement["Condition"]["StringLike"]["kms:EncryptionContext:PARAMETER_ARN"]) == f"{SSM}{path}"


# --- bucket, bus, outputs --------------------------------------------------------------------------------------


def test_buckets_are_encrypted_private_and_ssl_only(synthesized: Synthesized) -> None:
    buckets = synthesized.resources("AWS::S3::Bucket")
    policies = {
        p["Properties"]["Bucket"]["Ref"]: p["Properties"]["PolicyDocument"]["Statement"]
        for p in synthesized.resources("AWS::S3::BucketPolicy").values()
    }

    assert len(buckets) == 2
    for bucket_id, bucket in buckets.items():
        properties = bucket["Properties"]
        (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        assert set(properties["PublicAccessBlockConfiguration"].values()) == {True}
        (deny_plain_http,) = [
            s for s in policies[bucket_id] if s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert (deny_plain_http["Effect"], deny_plain_http["Action"]) == ("Deny", "s3:*")
        assert deny_plain_http["Resource"][0] == {"Fn::GetAtt": [bucket_id, "Arn"]}


def test_artifacts_bucket_logs_access_to_the_log_bucket(synthesized: Synthesized) -> None:
    ids = stack_ids(synthesized)
    artifacts = synthesized.template_json["Resources"][ids["bucket"]]["Properties"]
    (log_bucket_id,) = set(synthesized.resources("AWS::S3::Bucket")) - {ids["bucket"]}

    assert artifacts["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": log_bucket_id}


def test_event_bus_is_the_contracts(synthesized: Synthesized) -> None:
    _, bus = only(synthesized.resources("AWS::Events::EventBus"))

    assert bus["Properties"]["Name"] == "gensail-dev-jobs"


def test_pipeline_outputs(synthesized: Synthesized) -> None:
    outputs = synthesized.template_json["Outputs"]
    ids = stack_ids(synthesized)
    _, mapping = mapping_of(synthesized, WORKER)
    worker_queue = mapping["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]

    assert outputs["StateMachineArn"]["Value"] == {"Ref": ids["state_machine"]}
    assert outputs["ArtifactsBucketName"]["Value"] == {"Ref": ids["bucket"]}
    assert outputs["EventBusName"]["Value"] == {"Ref": ids["bus"]}
    assert outputs["WorkerDeadLetterQueueUrl"]["Value"] == {"Ref": worker_queue}
    assert outputs["ConfigParameterPrefix"]["Value"] == "/gensail/dev/config"
