"""The one place the local runtime reaches into moto's private code: two methods of moto 5.2.5, replaced for the
process by :func:`install` (idempotent; any other moto version is refused by name), and one read of its streams
backend (:func:`stream_records`).

1. ``LambdaFunction._invoke_lambda`` (moto runs the code in Docker; Step Functions' Lambda tasks go through it):
   the handler registered for the function name (:func:`registered`) runs in-process instead. An exception becomes
   a function error with ``errorType`` = its class name, as the Lambda Python runtime reports it, so a state
   machine's ``Retry``/``Catch`` behaves as deployed. Unregistered functions keep moto's behaviour.
2. ``DynamoDBBackend.transact_write_items``: moto backs up each table with ``copy.deepcopy`` and on a failed
   condition puts the *copy* in its place, a new table with a stream shard the poller never reads. The wrapper
   makes the live table moto's "backup", keeps a cheap one (item index, named items, stream length) and on failure
   restores it in place, dropping the undone writes' stream records.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import moto
from moto.awslambda.models import LambdaFunction
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

logger = logging.getLogger("infra.local.lambda")

MOTO_VERSION = "5.2.5"  # the version these hooks were written against (requirements-dev.txt pins it)

Invoke = Callable[[Any], Any]  # the event in, the handler's return value out

_LOCK = threading.Lock()
_REGISTRY: dict[str, Invoke] = {}
_ORIGINALS: dict[tuple[type, str], Any] = {}


def install() -> None:
    _check_version()
    with _LOCK:
        for owner, name, replacement in _PATCHES:
            if (owner, name) not in _ORIGINALS:
                _ORIGINALS[(owner, name)] = getattr(owner, name)
                setattr(owner, name, replacement)


def _check_version() -> None:
    if moto.__version__ != MOTO_VERSION:
        raise RuntimeError(
            f"infra.local.moto_hooks uses private code of moto {MOTO_VERSION}, but moto {moto.__version__} is "
            "installed: check LambdaFunction._invoke_lambda, DynamoDBBackend.transact_write_items and "
            "DynamoDBStreamsBackend.get_records, then update MOTO_VERSION"
        )


def stream_records(iterator: str, limit: int) -> dict[str, Any]:
    """``GetRecords`` from this process's moto streams backend, under :data:`~infra.local.backend.BACKEND_LOCK`.

    Over HTTP moto spends 1 to 5 ms serializing each record, one request at a time: the poller's reads alone held
    the backend for about half of a requeue batch's run. Records come back as moto keeps them; the caller copies.
    """
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    from infra.local.backend import BACKEND_LOCK
    from infra.local.template import ACCOUNT_ID, REGION

    _check_version()
    with BACKEND_LOCK:
        return dynamodbstreams_backends[ACCOUNT_ID][REGION].get_records(iterator, limit)


def uninstall() -> None:
    with _LOCK:
        for (owner, name), original in _ORIGINALS.items():
            setattr(owner, name, original)
        _ORIGINALS.clear()


@contextmanager
def registered(invokes: Mapping[str, Invoke]) -> Iterator[None]:
    """Install the hooks and run ``invokes[name](event)`` when moto invokes the function ``name``, for the block."""
    install()
    with _LOCK:
        _REGISTRY.update(invokes)
    try:
        yield
    finally:
        with _LOCK:
            for name in invokes:
                _REGISTRY.pop(name, None)


def invocation_result(invoke: Invoke, event: Any) -> tuple[str, bool, str]:
    """``(payload, errored, logs)`` as ``_invoke_lambda`` returns them."""
    try:
        result = invoke(event)
    except Exception as error:  # every handler exception is a function error, as in Lambda
        return _error_payload(type(error).__name__, str(error), traceback.format_exception(error)), True, ""
    try:
        return json.dumps(result), False, ""
    except (TypeError, ValueError) as error:
        return _error_payload("Runtime.MarshalError", f"Unable to marshal response: {error}", []), True, ""


def _error_payload(error_type: str, message: str, stack: list[str]) -> str:
    return json.dumps({"errorMessage": message, "errorType": error_type, "requestId": "", "stackTrace": stack})


def _invoke_lambda(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
    with _LOCK:
        invoke = _REGISTRY.get(self.function_name)
        original = _ORIGINALS[(LambdaFunction, "_invoke_lambda")]
    if invoke is None:
        return original(self, event)  # type: ignore[no-any-return]
    payload, errored, logs = invocation_result(invoke, {} if event is None else event)
    if errored:
        logger.info("%s failed: %s", self.function_name, json.loads(payload)["errorType"])
    return payload, errored, logs


class _KeepLiveTables:
    """What moto's module sees as ``copy`` during a transaction: a table "copies" to itself."""

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


Key = tuple[DynamoType, DynamoType | None]


class _Backup:
    """One table's state before a transaction: enough to undo the transaction's writes."""

    def __init__(self, table: Table, keys: list[Key]) -> None:
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


def _lookup(table: Table, key: Key) -> Any:
    hash_value, range_value = key
    found = table.items.get(hash_value)
    return found if found is None or range_value is None else found.get(range_value)


def _keys(table: Table, name: str, transact_items: list[dict[str, Any]]) -> Iterator[Key]:
    hash_attr, range_attr = table.hash_key_attr, table.range_key_attr
    for entry in transact_items:
        for operation, body in entry.items():
            key = body.get("Item") if operation == "Put" else body.get("Key")
            named = body.get("TableName") == name and isinstance(key, dict) and hash_attr in key
            if named and (range_attr is None or range_attr in key):
                yield DynamoType(key[hash_attr]), DynamoType(key[range_attr]) if range_attr else None


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    names = {
        body["TableName"] for entry in transact_items for body in entry.values() if body.get("TableName") in self.tables
    }
    live = {name: self.tables[name] for name in names}
    backups = {name: _Backup(table, list(_keys(table, name, transact_items))) for name, table in live.items()}
    setattr(dynamodb_models, "copy", _KeepLiveTables())  # noqa: B010 - moto's backup: the live table itself
    try:
        _ORIGINALS[(DynamoDBBackend, "transact_write_items")](self, transact_items)
    except BaseException:
        for name, table in live.items():
            backups[name].restore(table)
            self.tables[name] = table
        raise
    finally:
        setattr(dynamodb_models, "copy", copy)  # noqa: B010


_PATCHES = (
    (LambdaFunction, "_invoke_lambda", _invoke_lambda),
    (DynamoDBBackend, "transact_write_items", _transact_write_items),
)
