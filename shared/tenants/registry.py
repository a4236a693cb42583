"""Tenant records in the single table. Ancestry never changes once a tenant is created."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel

from shared import schema
from shared.access import TenantPath
from shared.clock import now_iso
from shared.dynamo import TableRepository, from_item, serialize, to_item
from shared.errors import TenantExists, TenantNotFound


class Partner(BaseModel):
    partner_id: str
    name: str
    created_at: str


class Organization(BaseModel):
    organization_id: str
    partner_id: str
    name: str
    created_at: str


class Workspace(BaseModel):
    workspace_id: str
    organization_id: str
    partner_id: str
    name: str
    created_at: str

    @property
    def path(self) -> TenantPath:
        return TenantPath(
            partner_id=self.partner_id, organization_id=self.organization_id, workspace_id=self.workspace_id
        )


Tenant = Partner | Organization | Workspace
_BATCH_GET_SIZE = 100
_UNPROCESSED_RETRIES = 8
_ID_PREFIX = {schema.Entity.PARTNER: "ptn_", schema.Entity.ORGANIZATION: "org_", schema.Entity.WORKSPACE: "ws_"}
_MODEL: dict[str, type[Partner] | type[Organization] | type[Workspace]] = {
    schema.Entity.PARTNER: Partner,
    schema.Entity.ORGANIZATION: Organization,
    schema.Entity.WORKSPACE: Workspace,
}


def new_tenant_id(entity: str) -> str:
    return _ID_PREFIX[entity] + secrets.token_hex(5)


class TenantRegistry(TableRepository):
    """Create and look up partners, organizations and workspaces."""

    def create_partner(self, name: str, partner_id: str | None = None) -> Partner:
        partner = Partner(
            partner_id=partner_id or new_tenant_id(schema.Entity.PARTNER), name=name, created_at=now_iso()
        )
        self._put(schema.Entity.PARTNER, partner.partner_id, partner, sort=partner.partner_id)
        return partner

    def create_organization(self, partner_id: str, name: str, organization_id: str | None = None) -> Organization:
        self._require(schema.Entity.PARTNER, partner_id)
        organization = Organization(
            organization_id=organization_id or new_tenant_id(schema.Entity.ORGANIZATION),
            partner_id=partner_id,
            name=name,
            created_at=now_iso(),
        )
        sort = f"{partner_id}/{organization.organization_id}"
        self._put(schema.Entity.ORGANIZATION, organization.organization_id, organization, sort=sort)
        return organization

    def create_workspace(self, organization_id: str, name: str, workspace_id: str | None = None) -> Workspace:
        organization = self._require(schema.Entity.ORGANIZATION, organization_id)
        workspace = Workspace(
            workspace_id=workspace_id or new_tenant_id(schema.Entity.WORKSPACE),
            organization_id=organization_id,
            partner_id=organization["partner_id"],
            name=name,
            created_at=now_iso(),
        )
        sort = f"{workspace.partner_id}/{organization_id}/{workspace.workspace_id}"
        self._put(schema.Entity.WORKSPACE, workspace.workspace_id, workspace, sort=sort)
        return workspace

    def get_workspace(self, workspace_id: str) -> Workspace | None:
        item = self._get(schema.Entity.WORKSPACE, workspace_id)
        return Workspace.model_validate(item) if item else None

    def get_workspaces(self, workspace_ids: list[str]) -> dict[str, Workspace]:
        """The workspaces of ``workspace_ids`` that exist, by id: one ``BatchGetItem`` per 100 ids."""
        found: dict[str, Workspace] = {}
        unique = list(dict.fromkeys(workspace_ids))
        for start in range(0, len(unique), _BATCH_GET_SIZE):
            chunk = unique[start : start + _BATCH_GET_SIZE]
            keys = [to_item(schema.tenant_key(schema.Entity.WORKSPACE, tenant_id)) for tenant_id in chunk]
            pending: dict[str, Any] = {self._table: {"Keys": keys}}
            for attempt in range(_UNPROCESSED_RETRIES):
                response = self._db.batch_get_item(RequestItems=pending)
                for item in response.get("Responses", {}).get(self._table, []):
                    workspace = Workspace.model_validate(from_item(item))
                    found[workspace.workspace_id] = workspace
                pending = response.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(0.05 * 2**attempt)
            if pending:
                raise RuntimeError("could not read the workspaces")
        return found

    def get_partner(self, partner_id: str) -> Partner | None:
        item = self._get(schema.Entity.PARTNER, partner_id)
        return Partner.model_validate(item) if item else None

    def get_organization(self, organization_id: str) -> Organization | None:
        item = self._get(schema.Entity.ORGANIZATION, organization_id)
        return Organization.model_validate(item) if item else None

    def exists(self, entity: str, tenant_id: str) -> bool:
        return self._get(entity, tenant_id) is not None

    def list(self, entity: str) -> Iterator[Tenant]:
        """Every tenant of one kind, ordered by its path in the hierarchy."""
        model = _MODEL[entity]
        paginator = self._db.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._table,
            IndexName=schema.BY_ENTITY.name,
            KeyConditionExpression="entity = :entity",
            ExpressionAttributeValues={":entity": serialize(entity)},
        ):
            for item in page.get("Items", []):
                yield model.model_validate(from_item(item))

    def _get(self, entity: str, tenant_id: str) -> dict[str, Any] | None:
        response = self._db.get_item(TableName=self._table, Key=to_item(schema.tenant_key(entity, tenant_id)))
        item = response.get("Item")
        return from_item(item) if item else None

    def _require(self, entity: str, tenant_id: str) -> dict[str, Any]:
        item = self._get(entity, tenant_id)
        if item is None:
            raise TenantNotFound(f"No {entity} with id {tenant_id!r}.")
        return item

    def _put(self, entity: str, tenant_id: str, tenant: BaseModel, sort: str) -> None:
        item = {**schema.tenant_key(entity, tenant_id), "entity": entity, "entity_sort": sort, **tenant.model_dump()}
        try:
            self._db.put_item(
                TableName=self._table,
                Item=to_item(item),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise TenantExists(f"A {entity} with id {tenant_id!r} already exists.") from None
            raise
