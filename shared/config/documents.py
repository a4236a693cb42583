"""Config documents with versions, authors and history: DynamoDB holds the truth, SSM a copy the functions read.

SSM Parameter Store has no conditional write, so it cannot arbitrate between two writers. Each level therefore
has a *head* item in the table (its document, version and author). A change is one ``TransactWriteItems``: the
head updated on the condition that its version is still the one the writer read, and a history item for the new
version put on the condition that none exists. Of two racing writers exactly one commits; the other re-reads
(or answers 412 when the client sent ``If-Match``).

The SSM parameter is then copied from the head: the writer puts its committed document and reads the head's
version again. Should a later version have committed meanwhile, its writer's copy may have landed first and been
overwritten by this older one; so the writer copies the head again until the version it copied is the head's.
Every writer ends only after seeing its copy current, so the last copy is always the newest version. The
parameter's description carries the version it holds. A level written before heads existed (or by hand) has
its SSM document as version 0 until its first change.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from shared import schema
from shared.config.changes import ConfigChange
from shared.config.heads import ConfigHeads, level_tenant
from shared.config.hierarchy import ConfigLevel, ConfigStore
from shared.dynamo import TableRepository, from_item, serialize, to_item
from shared.errors import ConfigConflict

PUBLISH_ATTEMPTS = 5
HISTORY_PAGE_MAX = 100


class Author(BaseModel):
    """Who made a change: an API key (its scope and key id) or an operator through the admin command."""

    scope: str = Field(description="`workspace`, `organization` or `partner` (an API key), or `operator`.")
    key_id: str | None = Field(default=None, description="The API key's id; null for an operator.")

    @classmethod
    def operator(cls) -> Author:
        return cls(scope="operator")


class StoredDocument(BaseModel):
    """One level's document as stored now. Version 0: never changed through this store."""

    level: ConfigLevel
    tenant_id: str | None
    config: dict[str, Any]
    version: int
    updated_at: str | None = None
    updated_by: Author | None = None

    @property
    def etag(self) -> str:
        return f'"{self.version}"'


class HistoryEntry(BaseModel):
    """One committed change of a level's document."""

    version: int
    at: str
    author: Author
    changes: list[ConfigChange]


class HistoryPage(BaseModel):
    entries: list[HistoryEntry]
    last_key: dict[str, Any] | None


_tenant = level_tenant


class ConfigDocuments(TableRepository):
    """Reads, commits and publishes the config documents of every level."""

    def __init__(self, table_name: str, store: ConfigStore, dynamodb: Any) -> None:
        super().__init__(table_name, dynamodb)
        self.store = store
        self.heads = ConfigHeads(table_name, dynamodb)

    def read(self, level: ConfigLevel, tenant_id: str | None) -> StoredDocument:
        """The current document of one level (a consistent read: every committed change is seen)."""
        key = schema.config_head_key(level.value, _tenant(level, tenant_id))
        item = self._db.get_item(TableName=self._table, Key=to_item(key), ConsistentRead=True).get("Item")
        if item:
            return _document_from_item(level, tenant_id, from_item(item))
        return StoredDocument(
            level=level, tenant_id=tenant_id, config=self.store.read_document(level, tenant_id), version=0
        )

    def read_chain(self, chain: list[tuple[ConfigLevel, str | None]]) -> list[StoredDocument]:
        """The current documents of several levels: one consistent ``BatchGetItem`` (at most 100 levels), then
        one ``GetParameters`` (cached) for the levels that have no head yet."""
        found = self.heads.items(chain)
        missing = [level for level in chain if level not in found]
        fallback = self.store.documents(missing) if missing else {}
        documents = []
        for level, tenant_id in chain:
            head = found.get((level, tenant_id))
            if head is not None:
                documents.append(_document_from_item(level, tenant_id, head))
            else:
                config = fallback.get((level, tenant_id), {})
                documents.append(StoredDocument(level=level, tenant_id=tenant_id, config=config, version=0))
        return documents

    def commit(
        self, current: StoredDocument, config: dict[str, Any], author: Author, changes: list[ConfigChange], now: str
    ) -> StoredDocument | None:
        """Store ``config`` as the next version of ``current``'s level; ``None`` if another change committed first."""
        tenant_id = _tenant(current.level, current.tenant_id)
        version = current.version + 1
        author_item = author.model_dump(exclude_none=True)
        head_condition = "attribute_not_exists(#pk)" if current.version == 0 else "#version = :expected"
        head_values = {
            ":document": serialize(json.dumps(config, sort_keys=True)),
            ":version": serialize(version),
            ":now": serialize(now),
            ":author": serialize(author_item),
            ":entity": serialize(schema.Entity.CONFIG),
            ":level": serialize(current.level.value),
            ":tenant": serialize(tenant_id),
        }
        head_names = {"#document": "document", "#version": "version", "#level": "level"}
        if current.version:
            head_values[":expected"] = serialize(current.version)
        else:
            head_names["#pk"] = schema.PARTITION_KEY
        change_item = {
            **schema.config_change_key(current.level.value, tenant_id, version),
            "entity": schema.Entity.CONFIG_CHANGE,
            "level": current.level.value,
            "tenant_id": tenant_id,
            "version": version,
            "at": now,
            "author": author_item,
            "changes": json.dumps([change.model_dump(mode="json") for change in changes]),
        }
        try:
            self._db.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": to_item(schema.config_head_key(current.level.value, tenant_id)),
                            "UpdateExpression": (
                                "SET #document = :document, #version = :version, updated_at = :now,"
                                " updated_by = :author, entity = :entity, #level = :level, tenant_id = :tenant"
                            ),
                            "ConditionExpression": head_condition,
                            "ExpressionAttributeNames": head_names,
                            "ExpressionAttributeValues": head_values,
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": to_item(change_item),
                            "ConditionExpression": "attribute_not_exists(#pk)",
                            "ExpressionAttributeNames": {"#pk": schema.PARTITION_KEY},
                        }
                    },
                ]
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "TransactionCanceledException":
                return None
            raise
        return current.model_copy(
            update={"config": config, "version": version, "updated_at": now, "updated_by": author}
        )

    def publish(self, committed: StoredDocument) -> None:
        """Copy the level's newest committed document to its SSM parameter (see the module's docstring)."""
        document = committed
        for _ in range(PUBLISH_ATTEMPTS):
            self.store.put_document(
                document.level,
                document.tenant_id,
                document.config,
                description=f"Gensail config, version {document.version}",
            )
            head = self.read(document.level, document.tenant_id)
            if head.version <= document.version:
                return
            document = head
        raise ConfigConflict(
            f"The {committed.level} config kept changing while it was being applied; read it and retry."
        )

    def history(
        self, level: ConfigLevel, tenant_id: str | None, limit: int, start_key: dict[str, Any] | None
    ) -> HistoryPage:
        """One page of a level's changes, newest first: a single Query of its partition."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :prefix)",
            "ExpressionAttributeNames": {"#pk": schema.PARTITION_KEY, "#sk": schema.SORT_KEY},
            "ExpressionAttributeValues": {
                ":pk": serialize(schema.config_partition(level.value, _tenant(level, tenant_id))),
                ":prefix": serialize(schema.CONFIG_HISTORY_PREFIX),
            },
            "ScanIndexForward": False,
            "Limit": min(limit, HISTORY_PAGE_MAX),
        }
        if start_key:
            request["ExclusiveStartKey"] = to_item(start_key)
        response = self._db.query(**request)
        last = response.get("LastEvaluatedKey")
        entries = []
        for item in response.get("Items", []):
            plain = from_item(item)
            entries.append(
                HistoryEntry(
                    version=plain["version"],
                    at=plain["at"],
                    author=Author.model_validate(plain["author"]),
                    changes=[ConfigChange.model_validate(change) for change in json.loads(plain["changes"])],
                )
            )
        return HistoryPage(entries=entries, last_key=from_item(last) if last else None)


def _document_from_item(level: ConfigLevel, tenant_id: str | None, item: dict[str, Any]) -> StoredDocument:
    return StoredDocument(
        level=level,
        tenant_id=tenant_id,
        config=json.loads(item["document"]),
        version=int(item["version"]),
        updated_at=item.get("updated_at"),
        updated_by=Author.model_validate(item["updated_by"]) if item.get("updated_by") else None,
    )
