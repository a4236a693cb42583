"""The ``gensail`` command line against the local runtime: jobs list, get and requeue, and its exit codes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner, Result
from gensail.cli import output
from gensail.cli.commands import cli

from infra.local.runtime import LocalRuntime
from shared.aws import client as aws_client
from shared.jobs.models import requeue_message
from shared.jobs.repository import JobRepository
from shared.tenants.registry import TenantRegistry
from tests.sdk.conftest import demo_key, workspaces_of
from tests.support.factories import make_job

EXTRA_SKIPPED = 60


@pytest.fixture(scope="module")
def organization_key(runtime: LocalRuntime, demo: dict[str, Any]) -> dict[str, Any]:
    """An organization key, and more skipped jobs in its first workspace than one page of 50 holds."""
    key = demo_key(demo, "organization")
    workspace_id = _workspaces(demo, key)[0]
    workspace = TenantRegistry(runtime.table_name, aws_client("dynamodb")).get_workspace(workspace_id)
    assert workspace is not None
    for minutes in range(EXTRA_SKIPPED):
        JobRepository(runtime.table_name, aws_client("dynamodb")).create(
            make_job(workspace, duration=5, minutes_ago=minutes + 1)
        )
    return key


def _workspaces(demo: dict[str, Any], organization: dict[str, Any]) -> list[str]:
    return [t["id"] for t in demo["tenants"] if t["kind"] == "workspace" and t["parent_id"] == organization["scope_id"]]


def gensail(runtime: LocalRuntime, key: dict[str, Any] | str, *arguments: str) -> Result:
    api_key = key if isinstance(key, str) else key["key"]
    runner = CliRunner(env={"GENSAIL_API_KEY": api_key, "GENSAIL_BASE_URL": runtime.api_url})
    return runner.invoke(cli, list(arguments), catch_exceptions=False)


def test_jobs_list_shows_every_page(
    runtime: LocalRuntime, demo: dict[str, Any], organization_key: dict[str, Any]
) -> None:
    workspace = _workspaces(demo, organization_key)[0]

    as_json = gensail(
        runtime, organization_key, "jobs", "list", "--status", "skipped", "--workspace", workspace, "--output", "json"
    )
    as_table = gensail(runtime, organization_key, "jobs", "list", "--status", "skipped", "--workspace", workspace)

    jobs = json.loads(as_json.stdout)
    assert as_json.exit_code == 0
    assert len(jobs) > 50 + 9 - 1
    assert {job["status"] for job in jobs} == {"skipped"}
    assert {job["workspace_id"] for job in jobs} == {workspace}
    assert as_table.exit_code == 0
    assert f"{len(jobs)} jobs" in as_table.stdout
    assert all(job["job_id"] in as_table.stdout for job in jobs)


def test_jobs_get_and_requeue(runtime: LocalRuntime, demo: dict[str, Any], organization_key: dict[str, Any]) -> None:
    # Given a skipped job of the organization's second workspace, long enough not to be skipped again once requeued
    workspace = TenantRegistry(runtime.table_name, aws_client("dynamodb")).get_workspace(
        _workspaces(demo, organization_key)[1]
    )
    assert workspace is not None
    job_id = JobRepository(runtime.table_name, aws_client("dynamodb")).create(make_job(workspace, duration=600)).job_id

    # When it is shown, requeued, and requeued again
    shown = gensail(runtime, organization_key, "jobs", "get", job_id)
    requeued = gensail(runtime, organization_key, "jobs", "requeue", job_id, "--output", "json")
    again = gensail(runtime, organization_key, "jobs", "requeue", job_id)

    # Then the job shows with its history, the first requeue answers the spec's message, the second is refused
    assert shown.exit_code == 0
    assert job_id in shown.stdout
    assert "history" in shown.stdout
    assert requeued.exit_code == 0
    assert json.loads(requeued.stdout)["message"] == requeue_message(1)
    assert again.exit_code == output.EXIT_REFUSED
    assert again.stderr.startswith("error: job_not_skipped:")


def test_exit_codes_say_what_failed(
    runtime: LocalRuntime, demo: dict[str, Any], organization_key: dict[str, Any]
) -> None:
    foreign = workspaces_of(demo, demo_key(demo, "partner", 1)["scope_id"])[0]

    unknown_key = gensail(runtime, "gsk_" + "0" * 40, "jobs", "get", "1")
    forbidden = gensail(runtime, organization_key, "jobs", "list", "--workspace", foreign, "--output", "json")
    not_found = gensail(runtime, organization_key, "jobs", "get", "9" * 19)
    no_workspace = gensail(runtime, organization_key, "jobs", "list")
    bad_usage = gensail(runtime, organization_key, "jobs", "list", "--status", "lost")

    assert unknown_key.exit_code == output.EXIT_UNAUTHORIZED
    assert forbidden.exit_code == output.EXIT_FORBIDDEN
    assert json.loads(forbidden.stderr)["code"] == "forbidden"
    assert not_found.exit_code == output.EXIT_NOT_FOUND
    assert no_workspace.exit_code == output.EXIT_REFUSED
    assert bad_usage.exit_code == output.EXIT_USAGE


def test_without_a_key_the_command_says_so(runtime: LocalRuntime) -> None:
    result = CliRunner(env={"GENSAIL_API_KEY": None, "GENSAIL_BASE_URL": runtime.api_url}).invoke(
        cli, ["jobs", "get", "1"]
    )

    assert result.exit_code == output.EXIT_UNAUTHORIZED
    assert "GENSAIL_API_KEY" in result.stderr


def test_api_key_option_beats_the_environment(runtime: LocalRuntime, organization_key: dict[str, Any]) -> None:
    result = gensail(runtime, "gsk_" + "0" * 40, "jobs", "get", "9" * 19, "--api-key", organization_key["key"])

    assert result.exit_code == output.EXIT_NOT_FOUND
