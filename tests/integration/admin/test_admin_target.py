"""Choosing what to administer: the local runtime's demo.json, a deployed stack's outputs, or explicit names."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

from infra.naming import DEFAULT_STACK_NAME, stack_name
from shared.aws import client as aws_client
from shared.aws import reset_clients
from shared.config.hierarchy import ConfigLevel, ConfigStore
from shared.tenants.registry import TenantRegistry
from tests.integration.admin.conftest import CONFIG_PREFIX, Admin
from tests.support.aws import TABLE_NAME, create_table

# What the command changes in its own environment when it targets the local runtime.
_LOCAL_ENVIRONMENT = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE",
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
)


@pytest.fixture
def local_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """A moto server with the table, as the local runtime runs it, and the demo.json that describes it."""
    for name in _LOCAL_ENVIRONMENT:  # restored after the test whatever the command sets (even if unset now)
        present = name in os.environ
        monkeypatch.setenv(name, os.environ.get(name, ""))
        if not present:
            monkeypatch.delenv(name)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    create_table(boto3.client("dynamodb", endpoint_url=endpoint), "gensail-local")
    state = tmp_path / "demo.json"
    state.write_text(
        json.dumps(
            {
                "aws_endpoint_url": endpoint,
                "table_name": "gensail-local",
                "config_prefix": "/gensail-local/config",
                "api_url": "http://127.0.0.1:9/api/v1",
            }
        )
    )
    yield state, endpoint
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()  # noqa: S310
    server.stop()
    reset_clients()


def test_local_reads_demo_json_and_talks_to_the_local_endpoint(
    run: Admin, local_runtime: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    state, endpoint = local_runtime
    local = ("--local", "--local-state", str(state))

    assert run(*local, "tenants", "create-partner", "--name", "Local", "--id", "ptn_local").code == 0
    assert (
        run(*local, "tenants", "create-organization", "--partner", "ptn_local", "--name", "O", "--id", "org_l").code
        == 0
    )
    assert (
        run(*local, "tenants", "create-workspace", "--organization", "org_l", "--name", "W", "--id", "ws_l").code == 0
    )
    changed = run(
        *local, "config", "set", "--level", "workspace", "--id", "ws_l", "processing.filters.min_duration_seconds", "3"
    )

    assert changed.code == 0, changed.err
    assert os.environ["AWS_ENDPOINT_URL"] == endpoint
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint)
    assert TenantRegistry("gensail-local", dynamodb).get_workspace("ws_l") is not None
    store = ConfigStore("/gensail-local/config", ssm=boto3.client("ssm", endpoint_url=endpoint))
    assert store.read_document(ConfigLevel.WORKSPACE, "ws_l") == {
        "processing": {"filters": {"min_duration_seconds": 3}}
    }


def test_local_without_a_running_runtime_is_refused(run: Admin, tmp_path: Path) -> None:
    refused = run("--local", "--local-state", str(tmp_path / "demo.json"), "tenants", "list")

    assert refused.code == 2
    assert refused.err == f"error: No local runtime state at {tmp_path / 'demo.json'}: start the local runtime first.\n"


def test_local_state_missing_a_field_is_refused(run: Admin, tmp_path: Path) -> None:
    state = tmp_path / "demo.json"
    state.write_text(json.dumps({"aws_endpoint_url": "http://127.0.0.1:9", "table_name": "t"}))

    refused = run("--local", "--local-state", str(state), "tenants", "list")

    assert refused.code == 2
    assert refused.err.startswith(f"error: Unreadable local runtime state in {state}")


def _stack(name: str, outputs: dict[str, str]) -> None:
    template = {
        "Resources": {
            "Marker": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Name": f"/{name}/marker", "Type": "String", "Value": "x"},
            }
        },
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    boto3.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))


@pytest.fixture
def deployed() -> Iterator[None]:
    """A moto account with the table and a stack exporting it, as ``cdk deploy`` leaves them."""
    with mock_aws():
        reset_clients()
        create_table(boto3.client("dynamodb"))
        _stack(DEFAULT_STACK_NAME, {"TableName": TABLE_NAME, "ConfigParameterPrefix": CONFIG_PREFIX})
        yield
        reset_clients()


def test_default_target_is_the_dev_stage_stack_outputs(
    run: Admin, deployed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STAGE", raising=False)
    created = run("tenants", "create-partner", "--name", "Deployed", "--id", "ptn_d")
    named = run(
        "--stack",
        DEFAULT_STACK_NAME,
        "config",
        "set",
        "--level",
        "partner",
        "--id",
        "ptn_d",
        "processing.filters.min_duration_seconds",
        "12",
    )

    assert (created.code, named.code) == (0, 0), created.err + named.err
    assert TenantRegistry(TABLE_NAME, aws_client("dynamodb")).get_partner("ptn_d") is not None
    assert ConfigStore(CONFIG_PREFIX, aws_client("ssm")).read_document(ConfigLevel.PARTNER, "ptn_d") == {
        "processing": {"filters": {"min_duration_seconds": 12}}
    }


def test_a_stage_names_its_own_stack(run: Admin, deployed: None, monkeypatch: pytest.MonkeyPatch) -> None:
    _stack(stack_name("prod"), {"TableName": "prod-table", "ConfigParameterPrefix": "/gensail/prod/config"})
    monkeypatch.setenv("STAGE", "prod")

    by_option = run("--stage", "dev", "tenants", "list")
    by_variable = run("tenants", "list")
    missing = run("--stage", "qa", "tenants", "list")
    invalid = run("--stage", "Prod!", "tenants", "list")

    assert by_option.code == 0, by_option.err
    # The prod stack's table does not exist in this account: the command went there, and AWS said so.
    assert by_variable.code == 1
    assert "prod-table" in by_variable.err or "ResourceNotFound" in by_variable.err
    assert missing.err == f"error: No stack '{stack_name('qa')}' in region us-east-1 of this account.\n"
    assert invalid.code == 2
    assert "lower-case letters" in invalid.err


def test_unknown_stack_is_refused(run: Admin, deployed: None) -> None:
    refused = run("--stack", "Elsewhere", "tenants", "list")

    assert refused.code == 2
    assert refused.err == "error: No stack 'Elsewhere' in region us-east-1 of this account.\n"


def test_stack_without_the_outputs_is_refused(run: Admin, deployed: None) -> None:
    _stack("OldStack", {"TableName": TABLE_NAME})

    refused = run("--stack", "OldStack", "tenants", "list")

    assert refused.code == 2
    assert "has no output ConfigParameterPrefix" in refused.err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("--table-name", "t"), "--table-name and --config-prefix must be given together"),
        (("--local", "--table-name", "t", "--config-prefix", "/p"), "cannot be combined with --local, --stage"),
        (("--local", "--stack", "S"), "not allowed with argument"),
    ],
)
def test_conflicting_target_options_are_refused(run: Admin, arguments: tuple[str, ...], message: str) -> None:
    refused = run(*arguments, "tenants", "list")

    assert refused.code == 2
    assert message in refused.err


def test_help_exits_zero(run: Admin) -> None:
    shown = run("--help")

    assert shown.code == 0
    assert "config set --level workspace --id ws_main" in shown.out
