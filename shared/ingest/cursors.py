"""The per-workspace ingestion cursor: the ``start_time`` up to which every call of the workspace is stored.

Positions are fixed-width UTC timestamps (``shared.clock.format_timestamp``), so DynamoDB's string comparison
orders them in time and the conditional write can refuse to move a cursor backwards.
"""

from __future__ import annotations

from datetime import datetime

from botocore.exceptions import ClientError

from shared import schema
from shared.clock import format_timestamp, now_iso, parse_timestamp
from shared.dynamo import TableRepository, serialize, to_item

CALLRAIL = "callrail"


def cursor_key(workspace_id: str) -> dict[str, str]:
    return schema.cursor_key(CALLRAIL, workspace_id)


class CursorStore(TableRepository):
    """Cursors of the workspaces' CallRail polls in the single table."""

    def read(self, workspace_id: str) -> datetime | None:
        """Where the workspace's last poll left off; ``None`` before its first poll."""
        response = self._db.get_item(
            TableName=self._table,
            Key=to_item(cursor_key(workspace_id)),
            ConsistentRead=True,
            ProjectionExpression="#position",
            ExpressionAttributeNames={"#position": "position"},
        )
        position = response.get("Item", {}).get("position", {}).get("S")
        return parse_timestamp(position) if position else None

    def advance(self, workspace_id: str, position: datetime) -> bool:
        """Move the cursor to ``position`` if that is forward; ``False`` when it already stands there or later."""
        try:
            self._db.update_item(
                TableName=self._table,
                Key=to_item(cursor_key(workspace_id)),
                UpdateExpression="SET #position = :new, updated_at = :now",
                ConditionExpression="attribute_not_exists(#position) OR #position < :new",
                ExpressionAttributeNames={"#position": "position"},
                ExpressionAttributeValues={":new": serialize(format_timestamp(position)), ":now": serialize(now_iso())},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True
