"""Creating and listing partners, organizations and workspaces."""

from __future__ import annotations

from shared.aws import client as aws_client
from shared.tenants.registry import TenantRegistry
from tests.integration.admin.conftest import Admin
from tests.support.aws import TABLE_NAME


def test_workspace_is_created_under_its_organization_and_partner(admin: Admin, hierarchy: None) -> None:
    # Given the hierarchy created by the command
    # When the registry reads the workspace back
    workspace = TenantRegistry(TABLE_NAME, aws_client("dynamodb")).get_workspace("ws_main")

    # Then its ancestry is the organization's and that organization's partner
    assert workspace is not None
    assert (workspace.partner_id, workspace.organization_id, workspace.name) == ("ptn_acme", "org_east", "ws_main")


def test_list_prints_the_tree(admin: Admin, hierarchy: None) -> None:
    admin("tenants", "create-partner", "--name", "Other", "--id", "ptn_other")

    listed = admin("tenants", "list")

    assert listed.code == 0
    assert listed.out.splitlines() == [
        "ptn_acme  Acme Agency",
        "  org_east  East",
        "    ws_main  ws_main",
        "    ws_side  ws_side",
        "ptn_other  Other",
    ]


def test_generated_ids_are_printed(admin: Admin) -> None:
    created = admin("tenants", "create-partner", "--name", "Acme")

    assert created.code == 0
    partner_id = created.out.split()[2]
    assert partner_id.startswith("ptn_")
    assert TenantRegistry(TABLE_NAME, aws_client("dynamodb")).get_partner(partner_id) is not None


def test_organization_of_unknown_partner_is_refused(admin: Admin) -> None:
    refused = admin("tenants", "create-organization", "--partner", "ptn_missing", "--name", "East")

    assert refused.code == 2
    assert refused.err == "error: No partner with id 'ptn_missing'.\n"
    assert list(TenantRegistry(TABLE_NAME, aws_client("dynamodb")).list("organization")) == []


def test_duplicate_id_is_refused(admin: Admin, hierarchy: None) -> None:
    refused = admin("tenants", "create-partner", "--name", "Again", "--id", "ptn_acme")

    assert refused.code == 2
    assert "already exists" in refused.err
    partner = TenantRegistry(TABLE_NAME, aws_client("dynamodb")).get_partner("ptn_acme")
    assert partner is not None
    assert partner.name == "Acme Agency"


def test_missing_required_option_is_a_usage_error(admin: Admin) -> None:
    refused = admin("tenants", "create-workspace", "--name", "No organization")

    assert refused.code == 2
    assert "--organization" in refused.err
