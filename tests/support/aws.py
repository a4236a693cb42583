"""Create the product's AWS resources in moto from the same definitions the CDK app uses."""

from __future__ import annotations

from typing import Any

from shared import schema

TABLE_NAME = "gensail-test"
CONFIG_PREFIX = "/gensail/config"
CURSOR_SECRET_NAME = "gensail-test-cursor-secret"


def create_table(dynamodb: Any, table_name: str = TABLE_NAME) -> None:
    """The single table with its multi-attribute indexes, exactly as shared.schema defines them."""
    attributes = {schema.PARTITION_KEY, schema.SORT_KEY}
    indexes = []
    for index in schema.GLOBAL_INDEXES:
        attributes.update(index.partition_keys + index.sort_keys)
        indexes.append(
            {
                "IndexName": index.name,
                "KeySchema": [{"AttributeName": name, "KeyType": "HASH"} for name in index.partition_keys]
                + [{"AttributeName": name, "KeyType": "RANGE"} for name in index.sort_keys],
                "Projection": {"ProjectionType": "ALL"},
            }
        )
    dynamodb.create_table(
        TableName=table_name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[
            {"AttributeName": schema.PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": schema.SORT_KEY, "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in sorted(attributes)],
        GlobalSecondaryIndexes=indexes,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": schema.STREAM_VIEW},
    )


def create_cursor_secret(secretsmanager: Any, name: str = CURSOR_SECRET_NAME) -> str:
    return str(secretsmanager.create_secret(Name=name, SecretString="s" * 48)["ARN"])


def put_items(dynamodb: Any, items: list[dict[str, Any]], table_name: str = TABLE_NAME) -> None:
    """Write many items (wire form) in batches of 25: test data in a few calls instead of one call per item."""
    for start in range(0, len(items), 25):
        pending: dict[str, Any] = {table_name: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]}
        while pending:
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def get_items(dynamodb: Any, keys: list[dict[str, Any]], table_name: str = TABLE_NAME) -> list[dict[str, Any]]:
    """Read many items (keys and items in wire form) in batches of 100, strongly consistent; missing ones are left
    out."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(keys), 100):
        pending: dict[str, Any] = {table_name: {"Keys": keys[start : start + 100], "ConsistentRead": True}}
        while pending:
            response = dynamodb.batch_get_item(RequestItems=pending)
            found += response["Responses"].get(table_name, [])
            pending = response.get("UnprocessedKeys") or {}
    return found
