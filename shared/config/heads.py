"""The head items of config levels in the table: each level's current document and version.

Read by the config service (with the rest of ``shared.config.documents``) and by the worker, which reads heads
instead of SSM when a job was requeued after its config cache was filled (see ``ConfigStore``).
"""

from __future__ import annotations

import json
from typing import Any

from shared import schema
from shared.config.hierarchy import ConfigLevel
from shared.dynamo import TableRepository, from_item, to_item

PLATFORM_ID = "platform"  # the id of the platform level in table keys

Level = tuple[ConfigLevel, str | None]


def level_tenant(level: ConfigLevel, tenant_id: str | None) -> str:
    return PLATFORM_ID if level is ConfigLevel.PLATFORM else str(tenant_id)


class ConfigHeads(TableRepository):
    """Consistent reads of head items."""

    def items(self, levels: list[Level]) -> dict[Level, dict[str, Any]]:
        """The head items of ``levels`` (at most 100) that have one: one consistent ``BatchGetItem``."""
        partitions = {
            schema.config_partition(level.value, level_tenant(level, tenant_id)): (level, tenant_id)
            for level, tenant_id in levels
        }
        if not partitions:
            return {}
        keys = [
            to_item(schema.config_head_key(level.value, level_tenant(level, tenant_id))) for level, tenant_id in levels
        ]
        found: dict[Level, dict[str, Any]] = {}
        request: dict[str, Any] | None = {self._table: {"Keys": keys, "ConsistentRead": True}}
        while request:
            response = self._db.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(self._table, []):
                plain = from_item(item)
                found[partitions[plain[schema.PARTITION_KEY]]] = plain
            request = response.get("UnprocessedKeys") or None
        return found

    def documents(self, levels: list[Level]) -> dict[Level, dict[str, Any]]:
        """The current documents of the ``levels`` that have a head."""
        return {level: json.loads(item["document"]) for level, item in self.items(levels).items()}
