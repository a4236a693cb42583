"""Fixtures shared by every tier: an isolated moto account with the product's table, and tenants in it."""

from __future__ import annotations

import copy
import fcntl
import os

# moto and boto3 must see these before any client exists.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ.pop("AWS_PROFILE", None)
os.environ["AWS_ACCOUNT_ID_ENDPOINT_MODE"] = "disabled"
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "tests")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "GensailTests")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from shared import schema
from shared.access import Caller, ScopeKind
from shared.auth.keys import ApiKeyRepository
from shared.aws import client as aws_client
from shared.aws import reset_clients
from shared.tenants.registry import Organization, Partner, TenantRegistry, Workspace
from tests.support.aws import CONFIG_PREFIX, TABLE_NAME, create_cursor_secret, create_table, put_items
from tests.support.moto_server import SerialMotoServer


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fresh moto account with the table and the cursor secret; handler settings point at them.

    The shared clients (``shared.aws.client``) are kept from test to test: moto answers every client of the process
    and empties its backends at each ``mock_aws`` start, so only a change of endpoint needs new clients, and every
    fixture that points the process at a server forgets them on the way in and out. Creating a client costs
    ~0.1 s (each loads the service's model afresh).
    """
    with mock_aws():
        create_table(aws_client("dynamodb"))
        secret_arn = create_cursor_secret(aws_client("secretsmanager"))
        monkeypatch.setenv("TABLE_NAME", TABLE_NAME)
        monkeypatch.setenv("CURSOR_SECRET_ARN", secret_arn)
        monkeypatch.setenv("CONFIG_PREFIX", CONFIG_PREFIX)
        yield


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A single-threaded moto server with the table and cursor secret, for tests that race writers.

    In-process moto lets racing conditional writes both win; a server that serves one request at a time
    behaves like DynamoDB's per-item atomicity.
    """
    server = SerialMotoServer().start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    reset_clients()
    create_table(boto3.client("dynamodb"))
    monkeypatch.setenv("TABLE_NAME", TABLE_NAME)
    monkeypatch.setenv("CURSOR_SECRET_ARN", create_cursor_secret(boto3.client("secretsmanager")))
    monkeypatch.setenv("CONFIG_PREFIX", CONFIG_PREFIX)
    try:
        yield server.url
    finally:
        reset_clients()
        server.stop()


@dataclass
class Tenants:
    """Two partners, each with two organizations of two workspaces, and a key per tenant."""

    partners: list[Partner]
    organizations: list[Organization]
    workspaces: list[Workspace]
    keys: dict[str, str]  # tenant id -> API key
    callers: dict[str, Caller]  # tenant id -> caller of that key

    def workspace(self, index: int) -> Workspace:
        return self.workspaces[index]


# The tenants' stored items and keys, created through the registry once per test process and written again into each
# test's fresh account: the same items for a fraction of the calls (the registry's own tests cover its writes).
_TENANT_SNAPSHOT: list[tuple[list[dict[str, Any]], Tenants]] = []


def _create_tenants() -> Tenants:
    registry = TenantRegistry(TABLE_NAME, aws_client("dynamodb"))
    keys = ApiKeyRepository(TABLE_NAME, aws_client("dynamodb"))
    result = Tenants(partners=[], organizations=[], workspaces=[], keys={}, callers={})

    def issue(scope: ScopeKind, scope_id: str) -> None:
        key, record = keys.create(scope, scope_id, f"{scope} key", tenant_exists=True)
        result.keys[scope_id] = key
        result.callers[scope_id] = record.caller()

    for p in range(2):
        partner = registry.create_partner(f"Partner {p}", partner_id=f"ptn_{p}")
        result.partners.append(partner)
        issue(ScopeKind.PARTNER, partner.partner_id)
        for o in range(2):
            organization = registry.create_organization(partner.partner_id, f"Org {p}.{o}", f"org_{p}{o}")
            result.organizations.append(organization)
            issue(ScopeKind.ORGANIZATION, organization.organization_id)
            for w in range(2):
                workspace = registry.create_workspace(organization.organization_id, f"WS {p}.{o}.{w}", f"ws_{p}{o}{w}")
                result.workspaces.append(workspace)
                issue(ScopeKind.WORKSPACE, workspace.workspace_id)
    return result


def _item_key(item: dict[str, Any]) -> tuple[str, str]:
    return item[schema.PARTITION_KEY]["S"], item[schema.SORT_KEY]["S"]


@pytest.fixture
def tenants(aws: None) -> Tenants:
    """Two partners, each with two organizations of two workspaces, and a key per tenant, in the test's account."""
    dynamodb = aws_client("dynamodb")
    if not _TENANT_SNAPSHOT:
        before = {_item_key(item) for item in dynamodb.scan(TableName=TABLE_NAME)["Items"]}
        created = _create_tenants()
        items = [item for item in dynamodb.scan(TableName=TABLE_NAME)["Items"] if _item_key(item) not in before]
        _TENANT_SNAPSHOT.append((items, created))
        return copy.deepcopy(created)
    items, created = _TENANT_SNAPSHOT[0]
    put_items(dynamodb, items)
    return copy.deepcopy(created)


@pytest.fixture(scope="session")
def synthesized_app(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """The CDK app synthesized once per test session (asset bundling skipped), for the infra tier's assertions
    and the local runtime's template alike; the folder of its cloud assembly.

    Under pytest-xdist the workers share one synth (~10 s of CPU each) in the session's temporary folder: the first
    to need it synthesizes while holding a lock, the others wait for it and read the same files.
    """
    if worker_id == "master":  # one process: its own temporary folder
        return _synthesize(tmp_path_factory.mktemp("cdk.out"))
    session_folder = tmp_path_factory.getbasetemp().parent  # this session's, shared by its workers
    outdir = session_folder / "cdk.out"
    with (session_folder / "cdk.out.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (outdir / "manifest.json").exists():
                _synthesize(outdir)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return outdir


def _synthesize(outdir: Path) -> Path:
    # Set before the jsii runtime starts (on the first aws_cdk import): it prints a banner per Node process.
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_RELEASE", "1")
    from infra.app import SKIP_BUNDLING, build_app  # the CDK loads only in processes that synthesize

    build_app(SKIP_BUNDLING, outdir=str(outdir)).synth()
    return outdir
