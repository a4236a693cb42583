"""API keys (``gsk_...``). Only the SHA-256 of a key is stored; the key itself is shown once and never logged."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from pydantic import BaseModel

from shared import schema
from shared.access import Caller, ScopeKind
from shared.clock import now_iso
from shared.dynamo import TableRepository, from_item, serialize, to_item
from shared.errors import ApiKeyNotFound, TenantNotFound

KEY_PREFIX = "gsk_"
# How long API Gateway caches the authorizer's decision for a key: a revoked key may work this long after.
AUTHORIZER_CACHE_SECONDS = 300
_BEARER = "bearer "


class ApiKeyRecord(BaseModel):
    """What is stored about a key: never the key itself."""

    key_id: str
    scope: ScopeKind
    scope_id: str
    name: str
    created_at: str
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def caller(self) -> Caller:
        return Caller(scope=self.scope, scope_id=self.scope_id, key_id=self.key_id)


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_id_for(key_hash: str) -> str:
    """A short public handle for a key, safe to show and log (it reveals nothing usable)."""
    return "key_" + key_hash[:12]


def bearer_key(authorization: str | None) -> str | None:
    """The API key in an ``Authorization: Bearer gsk_...`` header, or ``None`` when there is none."""
    if not authorization or authorization[: len(_BEARER)].lower() != _BEARER:
        return None
    key = authorization[len(_BEARER) :].strip()
    return key if key.startswith(KEY_PREFIX) and len(key) > len(KEY_PREFIX) else None


class ApiKeyRepository(TableRepository):
    """API key records in the single table, found by the hash of the key."""

    def create(self, scope: ScopeKind, scope_id: str, name: str, tenant_exists: bool) -> tuple[str, ApiKeyRecord]:
        """Create a key for a tenant that exists; returns the key (to show once) and its record."""
        if not tenant_exists:
            raise TenantNotFound(f"No {scope} with id {scope_id!r}.")
        key = generate_key()
        key_hash = hash_key(key)
        record = ApiKeyRecord(
            key_id=key_id_for(key_hash), scope=scope, scope_id=scope_id, name=name, created_at=now_iso()
        )
        item = {
            **schema.api_key_key(key_hash),
            "entity": schema.Entity.API_KEY,
            "entity_sort": record.key_id,
            **record.model_dump(mode="json", exclude_none=True),
        }
        self._db.put_item(TableName=self._table, Item=to_item(item), ConditionExpression="attribute_not_exists(pk)")
        return key, record

    def authenticate(self, key: str) -> Caller | None:
        """The caller a key stands for, or ``None`` for an unknown or revoked key. One GetItem."""
        response = self._db.get_item(TableName=self._table, Key=to_item(schema.api_key_key(hash_key(key))))
        item = response.get("Item")
        if not item:
            return None
        record = ApiKeyRecord.model_validate(from_item(item))
        return record.caller() if record.active else None

    def revoke(self, key_id: str) -> ApiKeyRecord:
        item = self._find(key_id)
        response = self._db.update_item(
            TableName=self._table,
            Key={"pk": item["pk"], "sk": item["sk"]},
            UpdateExpression="SET revoked_at = if_not_exists(revoked_at, :now)",
            ExpressionAttributeValues={":now": serialize(now_iso())},
            ReturnValues="ALL_NEW",
        )
        return ApiKeyRecord.model_validate(from_item(response["Attributes"]))

    def list(self) -> list[ApiKeyRecord]:
        paginator = self._db.get_paginator("query")
        records: list[ApiKeyRecord] = []
        for page in paginator.paginate(
            TableName=self._table,
            IndexName=schema.BY_ENTITY.name,
            KeyConditionExpression="entity = :entity",
            ExpressionAttributeValues={":entity": serialize(schema.Entity.API_KEY)},
        ):
            records.extend(ApiKeyRecord.model_validate(from_item(item)) for item in page.get("Items", []))
        return records

    def _find(self, key_id: str) -> dict[str, Any]:
        response = self._db.query(
            TableName=self._table,
            IndexName=schema.BY_ENTITY.name,
            KeyConditionExpression="entity = :entity AND entity_sort = :key_id",
            ExpressionAttributeValues={
                ":entity": serialize(schema.Entity.API_KEY),
                ":key_id": serialize(key_id),
            },
        )
        items = response.get("Items", [])
        if not items:
            raise ApiKeyNotFound(f"No API key with id {key_id!r}.")
        return items[0]  # type: ignore[no-any-return]
