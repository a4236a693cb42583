"""Stages side by side: the default dev stage and a production stage (with the WAF on) synthesized once each.

Proves that two stages share no physical name, that production keeps its data and other stages destroy cleanly,
that every resource is tagged, that API Gateway's account role is handled, and the optional WAF.
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from infra.account import ACCOUNT_STACK_NAME, wants_account_stack
from infra.app import SKIP_BUNDLING, build_app
from infra.naming import DEFAULT_STACK_NAME, stack_name
from infra.stage import Stage
from infra.waf import DEFAULT_RATE_LIMIT, MANAGED_RULE_GROUPS
from tests.infra.conftest import Synthesized
from tests.infra.helpers import only

pytestmark = pytest.mark.slow

PROD_CONTEXT = {"stage": "prod", "waf": "true", "owner": "call-team", "artifact_retention_days": "30"}
# Every property by which CloudFormation names a resource physically, per resource type.
PHYSICAL_NAMES = {
    "AWS::ApiGateway::RestApi": "Name",
    "AWS::ApiGateway::Stage": "StageName",
    "AWS::Events::EventBus": "Name",
    "AWS::SNS::Topic": "TopicName",
    "AWS::CloudWatch::Dashboard": "DashboardName",
    "AWS::WAFv2::WebACL": "Name",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::DynamoDB::GlobalTable": "TableName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::IAM::Role": "RoleName",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::SecretsManager::Secret": "Name",
}
SSM_PATHS = ("/gensail/dev/", "/gensail/prod/")


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    outdir = tmp_path_factory.mktemp("cdk.out.prod")
    build_app({**SKIP_BUNDLING, **PROD_CONTEXT}, outdir=str(outdir)).synth()
    return Synthesized(outdir, stack_name("prod"))


def _physical_names(synthesized: Synthesized) -> set[str]:
    names = set()
    for resource in synthesized.template_json["Resources"].values():
        name = resource.get("Properties", {}).get(PHYSICAL_NAMES.get(resource["Type"], ""))
        if isinstance(name, str):
            names.add(name)
    return names


def _environments(synthesized: Synthesized) -> list[dict[str, Any]]:
    return [
        function["Properties"].get("Environment", {}).get("Variables", {})
        for function in synthesized.resources("AWS::Lambda::Function", own=True).values()
    ]


def test_two_stages_share_no_physical_name(synthesized: Synthesized, prod: Synthesized) -> None:
    dev_names, prod_names = _physical_names(synthesized), _physical_names(prod)

    assert dev_names >= {"dev", "gensail-dev-jobs", "gensail-dev-alarms", "gensail-dev-operations"}
    assert prod_names >= {"prod", "gensail-prod-jobs", "gensail-prod-alarms", "gensail-prod-operations"}
    assert dev_names & prod_names == set()
    assert synthesized.template_path.name != prod.template_path.name
    # Nothing of one stage's SSM paths or names appears in the other's template.
    assert "/gensail/prod/" not in synthesized.template_path.read_text()
    assert "/gensail/dev/" not in prod.template_path.read_text()
    assert "gensail-dev" not in prod.template_path.read_text()


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_stage_names_its_api_stage_ssm_paths_event_bus_topic_and_metrics(
    synthesized: Synthesized, prod: Synthesized, stage: str
) -> None:
    template = {"dev": synthesized, "prod": prod}[stage]
    outputs = template.template_json["Outputs"]
    environments = _environments(template)

    (_, api_stage) = only(template.resources("AWS::ApiGateway::Stage"))
    assert api_stage["Properties"]["StageName"] == stage
    assert outputs["ConfigParameterPrefix"]["Value"] == f"/gensail/{stage}/config"
    assert outputs["SecretsParameterPrefix"]["Value"] == f"/gensail/{stage}/secrets"
    assert outputs["StageName"]["Value"] == stage
    assert {env["CONFIG_PREFIX"] for env in environments if "CONFIG_PREFIX" in env} == {f"/gensail/{stage}/config"}
    assert {env["POWERTOOLS_METRICS_NAMESPACE"] for env in environments if "POWERTOOLS_METRICS_NAMESPACE" in env} == {
        f"Gensail/{stage}"
    }
    (_, bus) = only(template.resources("AWS::Events::EventBus"))
    assert bus["Properties"]["Name"] == f"gensail-{stage}-jobs"
    (_, topic) = only(template.resources("AWS::SNS::Topic"))
    assert topic["Properties"]["TopicName"] == f"gensail-{stage}-alarms"


def test_production_keeps_its_data(prod: Synthesized) -> None:
    (_, table) = only(prod.resources("AWS::DynamoDB::GlobalTable"))
    buckets = prod.resources("AWS::S3::Bucket")
    manifest = json.loads((prod.outdir / "manifest.json").read_text())

    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert all(replica["DeletionProtectionEnabled"] for replica in table["Properties"]["Replicas"])
    assert len(buckets) == 2
    assert {(bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) for bucket in buckets.values()} == {
        ("Retain", "Retain")
    }
    assert prod.resources("Custom::S3AutoDeleteObjects") == {}
    assert manifest["artifacts"][stack_name("prod")]["properties"]["terminationProtection"] is True


def test_other_stages_destroy_cleanly(synthesized: Synthesized) -> None:
    (_, table) = only(synthesized.resources("AWS::DynamoDB::GlobalTable"))
    buckets = synthesized.resources("AWS::S3::Bucket")
    emptied = {
        resource["Properties"]["BucketName"]["Ref"]
        for resource in synthesized.resources("Custom::S3AutoDeleteObjects").values()
    }
    kept = [
        logical_id
        for logical_id, resource in synthesized.template_json["Resources"].items()
        if resource.get("DeletionPolicy") == "Retain"
    ]

    assert table["DeletionPolicy"] == "Delete"
    assert not any(replica.get("DeletionProtectionEnabled") for replica in table["Properties"]["Replicas"])
    assert emptied == set(buckets)  # each bucket is emptied, then deleted with the stack
    assert kept == []


def _taggable(resource_type: str) -> bool:
    if resource_type.startswith("Custom::"):
        return False
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource_type).schema
    return "Tags" in schema.get("properties", {})


def _tags(resource: dict[str, Any]) -> list[dict[str, str]]:
    properties = resource.get("Properties", {})
    if resource["Type"] == "AWS::DynamoDB::GlobalTable":  # tags live on each replica
        (replica,) = properties["Replicas"]
        return list(replica.get("Tags", []))
    tags = properties.get("Tags", [])
    return [{"Key": key, "Value": value} for key, value in tags.items()] if isinstance(tags, dict) else list(tags)


@pytest.mark.parametrize(("stage", "owner"), [("dev", "gensail-platform"), ("prod", "call-team")])
def test_every_resource_that_takes_tags_carries_service_stage_and_owner(
    synthesized: Synthesized, prod: Synthesized, stage: str, owner: str
) -> None:
    template = {"dev": synthesized, "prod": prod}[stage]
    expected = {"service": "gensail", "stage": stage, "owner": owner}
    checked = 0
    for logical_id, resource in template.template_json["Resources"].items():
        if resource["Type"] == "AWS::DynamoDB::GlobalTable" or _taggable(resource["Type"]):
            tags = {tag["Key"]: tag["Value"] for tag in _tags(resource)}
            assert expected.items() <= tags.items(), logical_id
            checked += 1
    assert checked >= 40


def test_the_account_stack_sets_api_gateways_logging_role_once_and_keeps_it(synthesized: Synthesized) -> None:
    account = json.loads(synthesized.account_template_path.read_text())["Resources"]
    manifest = json.loads((synthesized.outdir / "manifest.json").read_text())
    ((role_id, role),) = [(i, r) for i, r in account.items() if r["Type"] == "AWS::IAM::Role"]
    ((_, setting),) = [(i, r) for i, r in account.items() if r["Type"] == "AWS::ApiGateway::Account"]

    assert setting["Properties"]["CloudWatchRoleArn"] == {"Fn::GetAtt": [role_id, "Arn"]}
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "apigateway.amazonaws.com"
    }
    assert {setting["DeletionPolicy"], role["DeletionPolicy"]} == {"Retain"}
    assert {"Key": "service", "Value": "gensail"} in role["Properties"]["Tags"]
    # The stage's stack (its stage has access logging) is deployed after the account's.
    assert ACCOUNT_STACK_NAME in manifest["artifacts"][DEFAULT_STACK_NAME]["dependencies"]
    assert wants_account_stack(cdk.App(context={"api_gateway_account": "false"})) is False


def test_no_log_group_has_a_fixed_name(synthesized: Synthesized, prod: Synthesized) -> None:
    for template in (synthesized, prod):
        groups = template.resources("AWS::Logs::LogGroup")
        assert groups
        assert all("LogGroupName" not in group["Properties"] for group in groups.values())


def test_the_waf_applies_managed_rules_and_a_rate_limit_per_authorization_header(
    synthesized: Synthesized, prod: Synthesized
) -> None:
    (acl_id, acl) = only(prod.resources("AWS::WAFv2::WebACL"))
    (_, association) = only(prod.resources("AWS::WAFv2::WebACLAssociation"))
    (stage_id, _) = only(prod.resources("AWS::ApiGateway::Stage"))
    rules = {rule["Name"]: rule for rule in acl["Properties"]["Rules"]}
    rate = rules["RequestsPerApiKey"]["Statement"]["RateBasedStatement"]

    assert synthesized.resources("AWS::WAFv2::WebACL") == {}  # off unless asked for
    assert acl["Properties"]["Scope"] == "REGIONAL"
    assert acl["Properties"]["DefaultAction"] == {"Allow": {}}
    for group in MANAGED_RULE_GROUPS:
        assert rules[group]["Statement"]["ManagedRuleGroupStatement"] == {"VendorName": "AWS", "Name": group}
    assert rules["RequestsPerApiKey"]["Action"] == {"Block": {}}
    assert rate["AggregateKeyType"] == "CUSTOM_KEYS"
    assert rate["CustomKeys"] == [
        {"Header": {"Name": "Authorization", "TextTransformations": [{"Priority": 0, "Type": "NONE"}]}}
    ]
    assert rate["Limit"] == DEFAULT_RATE_LIMIT
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    assert stage_id in json.dumps(association["Properties"]["ResourceArn"])


@pytest.mark.parametrize(("stage", "days"), [("dev", 365), ("prod", 30)])
def test_recordings_and_transcripts_expire_after_the_retention_period(
    synthesized: Synthesized, prod: Synthesized, stage: str, days: int
) -> None:
    template = {"dev": synthesized, "prod": prod}[stage]
    outputs = template.template_json["Outputs"]
    bucket_id = outputs["ArtifactsBucketName"]["Value"]["Ref"]
    rules = template.template_json["Resources"][bucket_id]["Properties"]["LifecycleConfiguration"]["Rules"]
    expiring = {rule["Prefix"]: rule["ExpirationInDays"] for rule in rules if "Prefix" in rule}

    # Recordings, transcripts, Transcribe's raw output and the published results that embed the transcript.
    assert expiring == {"recordings/": days, "transcripts/": days, "transcribe/": days, "results/": days}
    assert all(rule["Status"] == "Enabled" for rule in rules)


def test_stage_names_are_checked() -> None:
    with pytest.raises(ValueError, match="lower-case letters"):
        Stage("Prod_1")
    with pytest.raises(ValueError, match="must be true or false"):
        Stage.from_context(cdk.App(context={"stage": "qa", "production": "maybe"}))
    assert Stage.from_context(cdk.App()).name == "dev"
    assert Stage.from_context(cdk.App(context={"stage": "prod"})).production is True
    assert Stage.from_context(cdk.App(context={"stage": "prod", "production": "false"})).production is False
