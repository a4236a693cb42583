"""REQUEST authorizer: ``Authorization: Bearer gsk_...`` -> key record (by SHA-256) -> caller scope in context.

The key is never logged. Missing, unknown and revoked keys all raise ``Unauthorized``, which API Gateway turns
into the same 401 problem body. The policy allows every route of the stage, so a cached decision for one route
never denies a valid call to another.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.auth.keys import ApiKeyRepository, bearer_key
from shared.aws import client
from shared.settings import AuthorizerSettings

logger = Logger()


@cache
def _keys() -> ApiKeyRepository:
    return ApiKeyRepository(AuthorizerSettings.from_environ().table_name, client("dynamodb"))


def _header(event: dict[str, Any], name: str) -> str | None:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return str(value)
    return None


def stage_wildcard_arn(method_arn: str) -> str:
    """``arn:...:api-id/stage/VERB/path`` -> ``arn:...:api-id/stage/*/*``: every route of the stage."""
    api_and_stage = method_arn.split("/", 2)[:2]
    return "/".join([*api_and_stage, "*", "*"])


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    key = bearer_key(_header(event, "authorization"))
    caller = _keys().authenticate(key) if key else None
    if caller is None:
        logger.info("request refused: missing, unknown or revoked API key")
        raise Exception("Unauthorized")  # API Gateway's contract for a 401 from a Lambda authorizer
    logger.info("request authorized", key_id=caller.key_id, scope=caller.scope)
    return {
        "principalId": caller.key_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": stage_wildcard_arn(event["methodArn"])}
            ],
        },
        "context": {"scope": caller.scope.value, "scope_id": caller.scope_id, "key_id": caller.key_id},
    }
