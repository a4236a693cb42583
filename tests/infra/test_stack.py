"""The synthesized stage stack (default stage dev): what gets deployed, checked against the sources it is built from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Match, Template

from infra.app import SKIP_BUNDLING, build_app
from infra.functions import CODE_FOLDERS, LAMBDA_TARGET
from infra.naming import DEFAULT_STACK_NAME
from infra.stack import GensailStack
from shared import schema
from tests.infra.conftest import Synthesized
from tests.infra.helpers import API_HANDLER, AUTHORIZER_HANDLER, SSM, function_grants, render

pytestmark = pytest.mark.slow

RETENTION_DAYS = 30


def _keys(*names: str, key_type: str) -> list[dict[str, str]]:
    return [{"AttributeName": name, "KeyType": key_type} for name in names]


def _policy_statements(synthesized: Synthesized, function_id: str) -> list[dict[str, Any]]:
    role = synthesized.template_json["Resources"][function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = []
    for policy in synthesized.resources("AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else actions


def _resources(statement: dict[str, Any]) -> list[Any]:
    resources = statement["Resource"]
    return resources if isinstance(resources, list) else [resources]


def _dynamodb_grants(synthesized: Synthesized, function_id: str) -> dict[str, set[str]]:
    """DynamoDB action -> the table resources it is allowed on, rendered as ``table`` or ``index/NAME``.

    A statement limited to some partitions (``dynamodb:LeadingKeys``) renders as ``table[PATTERN]``.
    """
    (table_id,) = synthesized.resources("AWS::DynamoDB::GlobalTable")
    table_arn = {"Fn::GetAtt": [table_id, "Arn"]}
    grants: dict[str, set[str]] = {}
    for statement in _policy_statements(synthesized, function_id):
        leading = statement.get("Condition", {}).get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys")
        table = f"table[{','.join(leading)}]" if leading else "table"
        for action in (a for a in _actions(statement) if a.startswith("dynamodb:")):
            for resource in _resources(statement):
                if resource == table_arn:
                    grants.setdefault(action, set()).add(table)
                else:
                    parts = resource["Fn::Join"][1]
                    assert parts[0] == table_arn, resource
                    grants.setdefault(action, set()).add(parts[1].removeprefix("/"))
    return grants


# --- the table -------------------------------------------------------------------------------------------------


def test_table_is_built_from_the_schema(template: Template) -> None:
    indexes = [
        {
            "IndexName": index.name,
            "KeySchema": _keys(*index.partition_keys, key_type="HASH") + _keys(*index.sort_keys, key_type="RANGE"),
            "Projection": {"ProjectionType": "ALL"},
        }
        for index in schema.GLOBAL_INDEXES
    ]
    template.resource_count_is("AWS::DynamoDB::GlobalTable", 1)
    template.has_resource_properties(
        "AWS::DynamoDB::GlobalTable",
        {
            "KeySchema": _keys(schema.PARTITION_KEY, key_type="HASH") + _keys(schema.SORT_KEY, key_type="RANGE"),
            "GlobalSecondaryIndexes": indexes,
            "BillingMode": "PAY_PER_REQUEST",
            "StreamSpecification": {"StreamViewType": schema.STREAM_VIEW},
            "Replicas": [Match.object_like({"PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}})],
        },
    )


def test_every_key_attribute_is_a_string(synthesized: Synthesized) -> None:
    (table,) = synthesized.resources("AWS::DynamoDB::GlobalTable").values()
    definitions = table["Properties"]["AttributeDefinitions"]
    expected = {schema.PARTITION_KEY, schema.SORT_KEY} | {
        name for index in schema.GLOBAL_INDEXES for name in (*index.partition_keys, *index.sort_keys)
    }

    assert {d["AttributeName"] for d in definitions} == expected
    assert {d["AttributeType"] for d in definitions} == {"S"}


# --- the functions ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("handler", "environment"),
    [
        (
            API_HANDLER,
            {
                "TABLE_NAME": Match.any_value(),
                "CURSOR_SECRET_ARN": Match.any_value(),
                "POWERTOOLS_SERVICE_NAME": "jobs-api",
                "POWERTOOLS_METRICS_NAMESPACE": "Gensail/dev",
                "POWERTOOLS_LOG_LEVEL": "INFO",
            },
        ),
        (AUTHORIZER_HANDLER, {"TABLE_NAME": Match.any_value(), "POWERTOOLS_SERVICE_NAME": "authorizer"}),
    ],
)
def test_functions_run_on_the_layer_platform_with_their_settings(
    template: Template, handler: str, environment: dict[str, Any]
) -> None:
    (layer_id,) = template.find_resources("AWS::Lambda::LayerVersion")

    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": handler,
            "Runtime": LAMBDA_TARGET.runtime.name,
            "Architectures": [LAMBDA_TARGET.architecture.name],
            "Layers": [{"Ref": layer_id}],
            "Environment": {"Variables": Match.object_like(environment)},
            "LoggingConfig": {"LogGroup": {"Ref": Match.any_value()}},
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::LayerVersion",
        {
            "CompatibleRuntimes": [LAMBDA_TARGET.runtime.name],
            "CompatibleArchitectures": [LAMBDA_TARGET.architecture.name],
        },
    )


def test_functions_read_settings_the_table_and_secret_really_provide(synthesized: Synthesized) -> None:
    api = synthesized.template_json["Resources"][synthesized.function_id(API_HANDLER)]
    variables = api["Properties"]["Environment"]["Variables"]
    (table_id,) = synthesized.resources("AWS::DynamoDB::GlobalTable")
    (secret_id,) = synthesized.resources("AWS::SecretsManager::Secret")

    assert variables["TABLE_NAME"] == {"Ref": table_id}
    assert variables["CURSOR_SECRET_ARN"] == {"Ref": secret_id}


def test_every_log_group_expires(synthesized: Synthesized) -> None:
    log_groups = synthesized.resources("AWS::Logs::LogGroup")
    function_log_groups = [
        function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        for function in synthesized.resources("AWS::Lambda::Function", own=True).values()
    ]

    # and the API's access log, the two state machines' logs (pipeline, requeue batches)
    assert len(log_groups) == len(function_log_groups) + 3
    assert set(function_log_groups) <= set(log_groups)
    assert {group["Properties"]["RetentionInDays"] for group in log_groups.values()} == {RETENTION_DAYS}


def test_both_functions_share_one_code_asset_of_functions_and_shared_only(synthesized: Synthesized) -> None:
    keys = {f["Properties"]["Code"]["S3Key"] for f in synthesized.resources("AWS::Lambda::Function", own=True).values()}
    assert len(keys) == 1
    (asset_dir,) = [synthesized.outdir / f"asset.{key.removesuffix('.zip')}" for key in keys]

    top_level = {path.name for path in asset_dir.iterdir()}
    files = [path for path in asset_dir.rglob("*") if path.is_file()]

    assert top_level == set(CODE_FOLDERS)
    assert (asset_dir / "functions" / "api" / "handler.py").is_file()
    assert (asset_dir / "functions" / "authorizer" / "handler.py").is_file()
    assert all(path.suffix == ".py" for path in files), [p for p in files if p.suffix != ".py"]


# --- least privilege -------------------------------------------------------------------------------------------


def test_api_function_may_get_and_update_items_query_indexes_and_write_config_and_batch_partitions_only(
    synthesized: Synthesized,
) -> None:
    grants = _dynamodb_grants(synthesized, synthesized.function_id(API_HANDLER))

    indexes = {f"index/{index.name}" for index in schema.GLOBAL_INDEXES}
    config = "table[CONFIG#*#*]"
    batches = "table[BATCH#*,REQUEUE_LOCK#*,IDEMPOTENCY#requeue-batches]"
    assert grants == {
        "dynamodb:GetItem": {"table", config, batches},
        "dynamodb:UpdateItem": {"table", config, batches},
        "dynamodb:Query": indexes | {config},
        "dynamodb:BatchGetItem": {config, batches, "table[WORKSPACE#*]"},
        "dynamodb:PutItem": {config, batches},
        "dynamodb:BatchWriteItem": {batches},
        "dynamodb:ConditionCheckItem": {batches},
        "dynamodb:DeleteItem": {batches},
    }


def test_api_function_reads_and_writes_config_parameters_only(synthesized: Synthesized) -> None:
    ssm = {
        action: resources
        for action, resources in function_grants(synthesized, API_HANDLER).items()
        if action.startswith("ssm:")
    }

    config = f"{SSM}/gensail/dev/config/*"
    assert ssm == {"ssm:GetParameter": {config}, "ssm:GetParameters": {config}, "ssm:PutParameter": {config}}


def test_authorizer_may_only_get_items(synthesized: Synthesized) -> None:
    grants = _dynamodb_grants(synthesized, synthesized.function_id(AUTHORIZER_HANDLER))

    assert grants == {"dynamodb:GetItem": {"table"}}


def test_only_the_api_function_reads_the_cursor_secret(synthesized: Synthesized) -> None:
    (secret_id,) = synthesized.resources("AWS::SecretsManager::Secret")
    readers = {
        handler
        for handler in (API_HANDLER, AUTHORIZER_HANDLER)
        for statement in _policy_statements(synthesized, synthesized.function_id(handler))
        if {"Ref": secret_id} in _resources(statement)
    }
    (api_secret_statement,) = [
        statement
        for statement in _policy_statements(synthesized, synthesized.function_id(API_HANDLER))
        if {"Ref": secret_id} in _resources(statement)
    ]

    assert readers == {API_HANDLER}
    assert set(_actions(api_secret_statement)) == {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}


# Actions whose resources may hold a wildcard, each acknowledged with its reason where the grant is made.
WILDCARD_RESOURCE_ACTIONS = {
    "ssm:GetParameter",  # a parameter path
    "ssm:GetParameters",
    "ssm:PutParameter",  # the config path (the API's config routes)
    "kms:Decrypt",  # the aws/ssm key, only via SSM for the secrets path
    "s3:GetObject",  # a key pattern of the artifacts bucket
    "s3:PutObject",
    "transcribe:StartTranscriptionJob",  # Transcribe has no resource-level permissions
    "transcribe:GetTranscriptionJob",
    "bedrock:InvokeModel",  # foundation models and inference profiles
    "lambda:InvokeFunction",  # a stage function's versions and aliases
}
LOG_DELIVERY_ACTIONS = {  # Step Functions logging; no resource-level permissions
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
}


def test_no_policy_has_wildcard_actions_or_unexpected_wildcard_resources(synthesized: Synthesized) -> None:
    for policy in synthesized.resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert not [action for action in _actions(statement) if "*" in action], statement
            assert "dynamodb:Scan" not in _actions(statement)
            if "*" in json.dumps(_resources(statement)):
                assert set(_actions(statement)) <= WILDCARD_RESOURCE_ACTIONS | LOG_DELIVERY_ACTIONS, statement


@pytest.mark.parametrize("handler", [API_HANDLER, AUTHORIZER_HANDLER])
def test_api_functions_hold_no_wildcard_resource_but_the_config_path(synthesized: Synthesized, handler: str) -> None:
    for statement in _policy_statements(synthesized, synthesized.function_id(handler)):
        if set(_actions(statement)) <= {"ssm:GetParameter", "ssm:GetParameters", "ssm:PutParameter"}:
            assert [render(resource) for resource in _resources(statement)] == [f"{SSM}/gensail/dev/config/*"]
            assert handler == API_HANDLER
            continue
        assert "*" not in json.dumps(_resources(statement)), statement


def test_roles_carry_no_managed_policies(synthesized: Synthesized) -> None:
    for role in synthesized.resources("AWS::IAM::Role", own=True).values():
        assert "ManagedPolicyArns" not in role["Properties"]


def test_outputs(template: Template, synthesized: Synthesized) -> None:
    (table_id,) = synthesized.resources("AWS::DynamoDB::GlobalTable")
    (secret_id,) = synthesized.resources("AWS::SecretsManager::Secret")

    template.has_output("TableName", {"Value": {"Ref": table_id}})
    template.has_output("CursorSecretArn", {"Value": {"Ref": secret_id}})
    template.has_output("ConfigParameterPrefix", {"Value": "/gensail/dev/config"})
    template.has_output("ApiUrl", {"Value": {"Fn::Join": ["", Match.array_with(["/"])]}})
    (topic_id,) = synthesized.resources("AWS::SNS::Topic")
    template.has_output("AlarmTopicArn", {"Value": {"Ref": topic_id}})


# --- cdk-nag ---------------------------------------------------------------------------------------------------


def test_cdk_nag_ran_and_every_finding_is_acknowledged_with_a_reason(synthesized: Synthesized) -> None:
    (report,) = synthesized.validation_report["pluginReports"]
    acknowledged = report["suppressedViolations"]

    assert report["pluginName"] == "AwsSolutions"
    assert report["conclusion"] == "success"
    assert report["violations"] == []
    assert acknowledged, "no finding acknowledged: is the pack still running?"
    for finding in acknowledged:
        assert len(finding["reason"].split()) >= 10, finding
        assert finding["acknowledgedAt"] in {c["constructPath"] for c in finding["violatingConstructs"]}


def test_an_unacknowledged_finding_fails_synth(tmp_path: Path) -> None:
    # Given the real app with one resource that breaks AwsSolutions rules and no acknowledgment for it
    app = build_app(SKIP_BUNDLING, outdir=str(tmp_path))
    stack = app.node.find_child(DEFAULT_STACK_NAME)
    assert isinstance(stack, GensailStack)
    sqs.Queue(stack, "QueueWithoutDeadLetterQueue")

    # When it synthesizes, then cdk-nag stops it
    with pytest.raises(RuntimeError, match="AwsSolutions-SQS3"):
        app.synth()
