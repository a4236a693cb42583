"""Plain-Python <-> DynamoDB attribute values, with numbers as int where they are whole."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _dynamo_ready(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {key: _dynamo_ready(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_dynamo_ready(item) for item in value]
    return value


def serialize(value: Any) -> dict[str, Any]:
    """One attribute value in DynamoDB's wire form."""
    return _serializer.serialize(_dynamo_ready(value))  # type: ignore[no-any-return]


def to_item(data: dict[str, Any]) -> dict[str, Any]:
    """A whole item in wire form; ``None`` values are left out rather than stored as NULL."""
    return {key: serialize(value) for key, value in data.items() if value is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """A whole item from wire form to plain Python."""
    return {key: _plain(_deserializer.deserialize(value)) for key, value in item.items()}


class TableRepository:
    """Base of the DynamoDB adapters over the single table: its name and the client the handler hands in."""

    def __init__(self, table_name: str, dynamodb: Any) -> None:
        self._table = table_name
        self._db = dynamodb

    def _conditional_update(self, key: dict[str, str], returns: str = "ALL_NEW", **request: Any) -> dict[str, Any]:
        """One conditional ``UpdateItem`` of the item at ``key``, returning the item as written (wire form; with
        ``returns="NONE"``, nothing: an empty dict).

        When the condition fails, raises :class:`ConditionFailed` with the item as it was, which DynamoDB returns
        with the failure, so no read is needed to tell why.
        """
        try:
            response = self._db.update_item(
                TableName=self._table,
                Key=to_item(key),
                ReturnValues=returns,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **request,
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            raise ConditionFailed(error.response.get("Item")) from None
        return response.get("Attributes", {})  # type: ignore[no-any-return]


class ConditionFailed(Exception):
    """A conditional write was refused. ``item``: the item as it was, in wire form (``None``: there was none)."""

    def __init__(self, item: dict[str, Any] | None) -> None:
        super().__init__("condition failed")
        self.item = item or None

    @property
    def old(self) -> dict[str, Any] | None:
        """The item as it was, in plain Python."""
        return from_item(self.item) if self.item else None
