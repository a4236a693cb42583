"""The admin command run in-process against moto: a fresh account with the product's table per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from moto import mock_aws

from infra.admin.cli import main
from shared.aws import client as aws_client
from shared.config.hierarchy import ConfigStore
from tests.support.aws import TABLE_NAME, create_table

CONFIG_PREFIX = "/gensail-test/config"
TARGET = ("--table-name", TABLE_NAME, "--config-prefix", CONFIG_PREFIX)


@dataclass
class Run:
    """What one invocation of the command left behind."""

    code: int
    out: str
    err: str


Admin = Callable[..., Run]


@pytest.fixture
def account() -> Iterator[None]:
    """A moto account holding only the table (the admin command needs nothing else); the shared clients are kept,
    as in ``tests/conftest.py``'s ``aws``."""
    with mock_aws():
        create_table(aws_client("dynamodb"))
        yield


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Admin:
    """Run ``infra.admin.cli.main`` with the given arguments and capture its exit status and output."""

    def invoke(*argv: str) -> Run:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return Run(code=code, out=captured.out, err=captured.err)

    return invoke


@pytest.fixture
def admin(account: None, run: Admin) -> Admin:
    """The command pointed at the test table and config prefix with explicit target options."""
    return lambda *argv: run(*TARGET, *argv)


@pytest.fixture
def hierarchy(admin: Admin) -> None:
    """One partner with one organization of two workspaces, created through the command itself."""
    assert admin("tenants", "create-partner", "--name", "Acme Agency", "--id", "ptn_acme").code == 0
    assert (
        admin("tenants", "create-organization", "--partner", "ptn_acme", "--name", "East", "--id", "org_east").code == 0
    )
    for workspace_id in ("ws_main", "ws_side"):
        created = admin(
            "tenants", "create-workspace", "--organization", "org_east", "--name", workspace_id, "--id", workspace_id
        )
        assert created.code == 0


@pytest.fixture
def config_store(account: None) -> ConfigStore:
    return ConfigStore(CONFIG_PREFIX, aws_client("ssm"))
