"""The second place the local runtime reaches into moto (the first is :mod:`infra.local.lambda_hook`): how
``TransactWriteItems`` rolls back.

moto 5.x backs up every table a transaction writes to with ``copy.deepcopy`` before it starts, and on a failed
condition puts the *copy* in the table's place. Two things follow for the runtime:

- the copy is a new table with a new stream shard, while the stream poller's shard iterators still read the
  old one: after the first cancelled transaction (a duplicate call, a day limit reached) the worker never sees
  another record;
- the copy costs the whole table and every stream record so far (a quarter of a second per transaction with
  the demo data, growing), and the poller makes one transaction per call.

:func:`install` wraps ``DynamoDBBackend.transact_write_items`` (a public method, moto 5.x): moto's own backup
becomes the live table itself, and the wrapper keeps a cheap backup instead (the item index, deep copies of the
items the transaction names, the stream's length). On failure it restores them *into the live table* and drops
the stream records of the undone writes, as DynamoDB never emits them. Behaviour is otherwise moto's.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

from infra.local.method_patch import MethodPatch


class _KeepLiveTables:
    """What moto's module sees as ``copy`` during a transaction: a table "copies" to itself."""

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


class _Backup:
    """One table's state before a transaction: enough to undo the transaction's writes."""

    def __init__(self, table: Table, keys: list[tuple[DynamoType, DynamoType | None]]) -> None:
        self._ranged = table.range_key_attr is not None
        self._index = {hash_value: dict(value) if self._ranged else value for hash_value, value in table.items.items()}
        self._items = {key: copy.deepcopy(found) for key in keys if (found := _lookup(table, key)) is not None}
        self._stream_length = len(table.stream_shard.items) if table.stream_shard is not None else 0

    def restore(self, table: Table) -> None:
        items: defaultdict[Any, Any] = defaultdict(dict)
        for hash_value, value in self._index.items():
            items[hash_value] = dict(value) if self._ranged else value
        for (hash_value, range_value), item in self._items.items():
            if self._ranged:
                items[hash_value][range_value] = item
            else:
                items[hash_value] = item
        table.items = items
        if table.stream_shard is not None:
            del table.stream_shard.items[self._stream_length :]


def _lookup(table: Table, key: tuple[DynamoType, DynamoType | None]) -> Any:
    hash_value, range_value = key
    found = table.items.get(hash_value)
    if found is None or range_value is None:
        return found
    return found.get(range_value)


def _keys(
    table: Table, name: str, transact_items: list[dict[str, Any]]
) -> Iterator[tuple[DynamoType, DynamoType | None]]:
    for entry in transact_items:
        for operation, body in entry.items():
            if not isinstance(body, dict) or body.get("TableName") != name:
                continue
            key = body.get("Item") if operation == "Put" else body.get("Key")
            if not isinstance(key, dict) or table.hash_key_attr not in key:
                continue
            range_attr = table.range_key_attr
            if range_attr is not None and range_attr not in key:
                continue
            yield DynamoType(key[table.hash_key_attr]), DynamoType(key[range_attr]) if range_attr else None


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    names = {
        body["TableName"]
        for entry in transact_items
        for body in entry.values()
        if isinstance(body, dict) and body.get("TableName") in self.tables
    }
    live = {name: self.tables[name] for name in names}
    backups = {name: _Backup(table, list(_keys(table, name, transact_items))) for name, table in live.items()}
    setattr(dynamodb_models, "copy", _KeepLiveTables())  # noqa: B010 - moto's backup: the live table itself
    try:
        _PATCH.original(self, transact_items)
    except BaseException:
        for name, table in live.items():
            backups[name].restore(table)
            self.tables[name] = table
        raise
    finally:
        setattr(dynamodb_models, "copy", copy)  # noqa: B010


_PATCH = MethodPatch(DynamoDBBackend, "transact_write_items", _transact_write_items)


def install() -> None:
    """Patch moto's ``transact_write_items`` (idempotent; the moto server runs one request at a time)."""
    _PATCH.install()


def uninstall() -> None:
    _PATCH.uninstall()
