"""API keys: created for an existing tenant, shown once, stored hashed, revocable."""

from __future__ import annotations

import re

import boto3

from shared.access import ScopeKind
from shared.auth.keys import AUTHORIZER_CACHE_SECONDS, ApiKeyRepository, hash_key
from shared.aws import client as aws_client
from tests.integration.admin.conftest import Admin
from tests.support.aws import TABLE_NAME


def _created_key(admin: Admin, scope: str, scope_id: str) -> tuple[str, str, str, str]:
    created = admin("keys", "create", "--scope", scope, "--scope-id", scope_id, "--name", "reporting")
    assert created.code == 0, created.err
    key = re.search(r"^api_key: (gsk_\S+)$", created.out, re.MULTILINE)
    key_id = re.search(r"^key_id:\s+(key_\w+)$", created.out, re.MULTILINE)
    assert key
    assert key_id
    return key.group(1), key_id.group(1), created.out, created.err


def test_created_key_authenticates_with_its_scope(admin: Admin, hierarchy: None) -> None:
    key, key_id, _, _ = _created_key(admin, "organization", "org_east")

    caller = ApiKeyRepository(TABLE_NAME, aws_client("dynamodb")).authenticate(key)

    assert caller is not None
    assert (caller.scope, caller.scope_id, caller.key_id) == (ScopeKind.ORGANIZATION, "org_east", key_id)


def test_key_is_shown_once_with_a_warning_and_only_its_hash_is_stored(admin: Admin, hierarchy: None) -> None:
    key, _, out, err = _created_key(admin, "workspace", "ws_main")

    assert (out + err).count(key) == 1
    assert "shown only this once" in err
    items = boto3.client("dynamodb").scan(TableName=TABLE_NAME)["Items"]
    stored = repr(items)
    assert key not in stored
    assert f"KEY#{hash_key(key)}" in stored


def test_revoked_key_no_longer_authenticates(admin: Admin, hierarchy: None) -> None:
    key, key_id, _, _ = _created_key(admin, "partner", "ptn_acme")

    revoked = admin("keys", "revoke", key_id)

    assert revoked.code == 0
    assert re.fullmatch(
        rf"Revoked {key_id} \(partner ptn_acme\) at \d{{4}}-\d\d-\d\dT\S+Z\.\n"
        rf"Requests may still be accepted for up to {AUTHORIZER_CACHE_SECONDS} s while API Gateway's authorizer "
        r"cache holds the key\.\n",
        revoked.out,
    )
    assert ApiKeyRepository(TABLE_NAME, aws_client("dynamodb")).authenticate(key) is None


def test_list_shows_ids_scopes_and_revocation_but_no_secrets(admin: Admin, hierarchy: None) -> None:
    kept, kept_id, _, _ = _created_key(admin, "workspace", "ws_main")
    gone, gone_id, _, _ = _created_key(admin, "workspace", "ws_side")
    admin("keys", "revoke", gone_id)

    listed = admin("keys", "list")

    assert listed.code == 0
    rows = {line.split()[0]: line for line in listed.out.splitlines()[1:]}
    assert rows[kept_id].split()[1:4] == ["workspace", "ws_main", "reporting"]
    assert rows[kept_id].rstrip().endswith("-")
    assert re.search(r"\d{4}-\d\d-\d\dT\S+Z$", rows[gone_id])
    for secret in (kept, gone, hash_key(kept), hash_key(gone)):
        assert secret not in listed.out


def test_key_for_unknown_tenant_is_refused(admin: Admin, hierarchy: None) -> None:
    refused = admin("keys", "create", "--scope", "workspace", "--scope-id", "ws_missing")

    assert refused.code == 2
    assert refused.err == "error: No workspace with id 'ws_missing'.\n"
    assert ApiKeyRepository(TABLE_NAME, aws_client("dynamodb")).list() == []


def test_key_scope_must_match_the_tenant_kind(admin: Admin, hierarchy: None) -> None:
    refused = admin("keys", "create", "--scope", "partner", "--scope-id", "ws_main")

    assert refused.code == 2
    assert "No partner with id 'ws_main'" in refused.err


def test_revoking_an_unknown_key_is_refused(admin: Admin) -> None:
    refused = admin("keys", "revoke", "key_000000000000")

    assert refused.code == 2
    assert refused.err == "error: No API key with id 'key_000000000000'.\n"


def test_unknown_scope_is_a_usage_error(admin: Admin) -> None:
    refused = admin("keys", "create", "--scope", "account", "--scope-id", "x")

    assert refused.code == 2
    assert "invalid choice" in refused.err
