"""The REQUEST authorizer: bearer key -> scope in context, one refusal for every bad key, nothing logged."""

from __future__ import annotations

import io
import logging

import pytest

from functions.authorizer import handler
from shared.auth.keys import ApiKeyRepository, hash_key
from shared.aws import client as aws_client
from tests.conftest import Tenants
from tests.support.aws import TABLE_NAME
from tests.support.events import FakeContext, authorizer_event


@pytest.fixture(autouse=True)
def fresh_repository(aws: None) -> None:
    handler._keys.cache_clear()


def test_a_valid_key_yields_its_scope_and_a_stage_wide_policy(tenants: Tenants) -> None:
    key = tenants.keys["org_01"]

    result = handler.lambda_handler(authorizer_event(f"Bearer {key}", "PATCH", "/api/v1/jobs/1/status"), FakeContext())  # type: ignore[arg-type]

    assert result["context"] == {
        "scope": "organization",
        "scope_id": "org_01",
        "key_id": tenants.callers["org_01"].key_id,
    }
    statement = result["policyDocument"]["Statement"][0]
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == "arn:aws:execute-api:us-east-1:123456789012:testapi/v1/*/*"


def test_the_scheme_is_case_insensitive(tenants: Tenants) -> None:
    result = handler.lambda_handler(authorizer_event(f"bearer {tenants.keys['ws_000']}"), FakeContext())  # type: ignore[arg-type]

    assert result["context"]["scope_id"] == "ws_000"


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic abc",
        "Bearer gsk_unknown",
        "gsk_without_scheme",
        "Bearer not_a_gensail_key",
    ],
)
def test_missing_and_unknown_keys_are_unauthorized(tenants: Tenants, authorization: str | None) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        handler.lambda_handler(authorizer_event(authorization), FakeContext())  # type: ignore[arg-type]


def test_a_revoked_key_is_unauthorized(tenants: Tenants) -> None:
    key = tenants.keys["ptn_1"]
    ApiKeyRepository(TABLE_NAME, aws_client("dynamodb")).revoke(tenants.callers["ptn_1"].key_id)

    with pytest.raises(Exception, match=r"^Unauthorized$"):
        handler.lambda_handler(authorizer_event(f"Bearer {key}"), FakeContext())  # type: ignore[arg-type]


def test_key_material_never_reaches_the_logs(tenants: Tenants) -> None:
    buffer = io.StringIO()
    capture = logging.StreamHandler(buffer)
    capture.setFormatter(handler.logger.registered_formatter)
    handler.logger.addHandler(capture)
    handler.logger.setLevel(logging.DEBUG)
    key = tenants.keys["ws_010"]
    try:
        handler.lambda_handler(authorizer_event(f"Bearer {key}"), FakeContext())  # type: ignore[arg-type]
        with pytest.raises(Exception, match="Unauthorized"):
            handler.lambda_handler(authorizer_event(f"Bearer {key}x"), FakeContext())  # type: ignore[arg-type]
    finally:
        handler.logger.removeHandler(capture)

    logged = buffer.getvalue()
    assert "request authorized" in logged
    assert key not in logged
    assert key[4:20] not in logged
    assert hash_key(key) not in logged


def test_only_the_hash_of_a_key_is_stored(tenants: Tenants) -> None:
    import boto3

    key = tenants.keys["ws_000"]
    items = boto3.client("dynamodb").scan(TableName=TABLE_NAME)["Items"]

    dumped = str(items)
    assert key not in dumped
    assert hash_key(key) in dumped
