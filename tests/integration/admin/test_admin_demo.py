"""``demo seed``: demo tenants, hashed keys, config overrides and jobs of every status, written through the
product's services into any target; the keys are printed once, as JSON."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import boto3
import pytest

from infra.admin.demo import DEMO_CAUSE, DEMO_SOURCE
from infra.naming import OUTPUT_CONFIG_PREFIX, OUTPUT_TABLE_NAME, PRODUCTION_STAGE, stack_name
from shared.auth.keys import ApiKeyRepository
from shared.aws import client as aws_client
from shared.config.model import PLATFORM_DEFAULTS
from shared.jobs.models import Job, JobStatus, SkipReason
from shared.jobs.repository import JobRepository
from shared.schema import Entity
from shared.tenants.registry import TenantRegistry
from tests.integration.admin.conftest import Admin
from tests.support.aws import CONFIG_PREFIX, TABLE_NAME

PLATFORM_MINIMUM = PLATFORM_DEFAULTS["processing"]["filters"]["min_duration_seconds"]  # type: ignore[index]
BELOW_MINIMUM = re.compile(r"^duration_below_minimum:(\d+)<(\d+)$")


@pytest.fixture
def seeded(admin: Admin) -> dict[str, Any]:
    run = admin("demo", "seed")
    assert run.code == 0, run.err
    assert "shown only this once" in run.err
    document: dict[str, Any] = json.loads(run.out)
    return document


def _jobs(workspace_id: str) -> list[Job]:
    return JobRepository(TABLE_NAME, aws_client("dynamodb")).list_jobs(workspace_id, None, 100).jobs


def _workspaces(seeded: dict[str, Any]) -> list[dict[str, Any]]:
    return [tenant for tenant in seeded["tenants"] if tenant["kind"] == "workspace"]


def test_seed_prints_every_tenant_and_one_working_key_each_as_json(seeded: dict[str, Any]) -> None:
    kinds = Counter(tenant["kind"] for tenant in seeded["tenants"])
    assert kinds == {"partner": 2, "organization": 4, "workspace": 8}
    keys = seeded["api_keys"]
    assert sorted(key["scope_id"] for key in keys) == sorted(tenant["id"] for tenant in seeded["tenants"])
    repository = ApiKeyRepository(TABLE_NAME, aws_client("dynamodb"))
    for key in keys:
        caller = repository.authenticate(key["key"])
        assert caller is not None
        assert (caller.scope.value, caller.scope_id, caller.key_id) == (key["scope"], key["scope_id"], key["key_id"])
    # Only the keys' hashes are stored
    stored = json.dumps(boto3.client("dynamodb").scan(TableName=TABLE_NAME)["Items"])
    assert not any(key["key"] in stored for key in keys)


def test_every_workspace_has_jobs_of_every_status_and_skip_reason(seeded: dict[str, Any]) -> None:
    for workspace in _workspaces(seeded):
        jobs = _jobs(workspace["id"])
        assert len(jobs) == 24
        assert {job.status for job in jobs} == set(JobStatus)
        reasons = {job.skipped_reason for job in jobs if job.status is JobStatus.SKIPPED}
        assert {SkipReason.SKIP_ALL_ON_INGEST, SkipReason.RATE_LIMIT} <= reasons
        assert any(BELOW_MINIMUM.match(reason or "") for reason in reasons)
        assert all(job.skipped_at for job in jobs if job.status is JobStatus.SKIPPED)
        assert {job.source for job in jobs} == {DEMO_SOURCE}
        assert all(job.history[0].cause.startswith(DEMO_CAUSE) for job in jobs)


def test_level_overrides_of_min_duration_show_in_the_skip_reasons(seeded: dict[str, Any]) -> None:
    tenants = {tenant["id"]: tenant for tenant in seeded["tenants"]}
    assert any(workspace["min_duration_seconds"] for workspace in _workspaces(seeded))
    for workspace in _workspaces(seeded):
        # The workspace's own minimum, else its organization's, else the platform's
        organization = tenants[workspace["parent_id"]]
        expected = workspace["min_duration_seconds"] or organization["min_duration_seconds"] or PLATFORM_MINIMUM
        reasons = [job.skipped_reason or "" for job in _jobs(workspace["id"])]
        minimums = {int(match.group(2)) for reason in reasons if (match := BELOW_MINIMUM.match(reason))}
        assert minimums == {expected}


def test_a_second_seed_with_the_same_shape_is_refused_and_another_seed_adds_a_new_set(
    seeded: dict[str, Any], admin: Admin
) -> None:
    again = admin("demo", "seed")
    assert again.code == 2
    assert "already exists" in again.err
    other = admin("demo", "seed", "--seed", "8")
    assert other.code == 0, other.err
    ids = {tenant["id"] for tenant in seeded["tenants"]}
    assert not {tenant["id"] for tenant in json.loads(other.out)["tenants"]} & ids


def test_seed_refuses_the_production_stage_stack(run: Admin, account: None) -> None:
    # Given the production stage's stack, deployed and exporting its table and config prefix
    outputs = {OUTPUT_TABLE_NAME: TABLE_NAME, OUTPUT_CONFIG_PREFIX: CONFIG_PREFIX}
    boto3.client("cloudformation").create_stack(
        StackName=stack_name(PRODUCTION_STAGE),
        TemplateBody=json.dumps(
            {
                "Resources": {
                    "Marker": {
                        "Type": "AWS::SSM::Parameter",
                        "Properties": {"Name": "/prod/marker", "Type": "String", "Value": "x"},
                    }
                },
                "Outputs": {key: {"Value": value} for key, value in outputs.items()},
            }
        ),
    )

    # When demo data is asked for there, by stage and by stack name
    by_stage = run("--stage", PRODUCTION_STAGE, "demo", "seed")
    by_stack = run("--stack", stack_name(PRODUCTION_STAGE), "demo", "seed")

    # Then both are refused and nothing was written
    for refused in (by_stage, by_stack):
        assert refused.code == 2
        assert (
            refused.err
            == "error: demo seed writes demo tenants, keys and jobs: it refuses the production stage's stack.\n"
        )
    assert list(TenantRegistry(TABLE_NAME, aws_client("dynamodb")).list(Entity.PARTNER)) == []
