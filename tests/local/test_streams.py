"""The local stream poller: the worker mapping's filter criteria, batches, partial failures and giving up."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from infra.local.moto_hooks import stream_records
from infra.local.streams import MappingState, StreamPoller
from infra.local.template import EventSourceMappingDef
from tests.local.conftest import moto_client

# The worker mapping's two filters, as docs/pipeline.md states them (and infra synthesizes them).
WORKER_PATTERNS = (
    json.dumps(
        {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"entity": {"S": ["job"]}, "status": {"S": ["queued"]}}}}
    ),
    json.dumps(
        {
            "eventName": ["MODIFY"],
            "dynamodb": {
                "NewImage": {"entity": {"S": ["job"]}, "status": {"S": ["queued"]}},
                "OldImage": {"status": {"S": [{"anything-but": ["queued"]}]}},
            },
        }
    ),
)


@pytest.fixture
def table(moto_url: str, request: pytest.FixtureRequest) -> tuple[str, str]:
    name = f"t-{request.node.name[:40]}"
    created = moto_client("dynamodb", moto_url).create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return name, created["TableDescription"]["LatestStreamArn"]


def _put(url: str, table: str, pk: str, status: str, entity: str = "job") -> None:
    moto_client("dynamodb", url).put_item(
        TableName=table, Item={"pk": {"S": pk}, "entity": {"S": entity}, "status": {"S": status}}
    )


def _poller(url: str, stream_arn: str, invoke: Any, *, batch_size: int = 25) -> StreamPoller:
    mapping = EventSourceMappingDef(
        logical_id="Worker",
        function_id="WorkerFn",
        table_id="Table",
        batch_size=batch_size,
        starting_position="TRIM_HORIZON",
        filter_patterns=WORKER_PATTERNS,
        report_batch_item_failures=True,
    )
    state = MappingState(mapping, stream_arn)
    return StreamPoller([state], invoke, moto_client("dynamodbstreams", url))


def _drain(poller: StreamPoller, rounds: int = 10) -> None:
    """Poll synchronously (no thread): each round reads the stream and processes what is pending."""
    for _ in range(rounds):
        poller.poll_once()


def test_filter_passes_new_queued_jobs_and_requeues_only(moto_url: str, table: tuple[str, str]) -> None:
    # Given jobs inserted queued and skipped, a requeue (skipped -> queued), a queued -> queued rewrite,
    # a queued -> transcribing change and a non-job item
    name, stream_arn = table
    _put(moto_url, name, "a", "queued")  # INSERT queued: passes
    _put(moto_url, name, "b", "skipped")  # INSERT skipped: ignored
    _put(moto_url, name, "b", "queued")  # MODIFY skipped -> queued: passes
    _put(moto_url, name, "a", "queued")  # MODIFY queued -> queued: ignored
    _put(moto_url, name, "a", "transcribing")  # MODIFY queued -> transcribing: ignored
    _put(moto_url, name, "k", "queued", entity="api_key")  # not a job: ignored
    seen: list[dict[str, Any]] = []

    def invoke(function_id: str, event: dict[str, Any]) -> dict[str, Any]:
        seen.extend(event["Records"])
        return {"batchItemFailures": []}

    # When the poller drains the stream
    _drain(_poller(moto_url, stream_arn, invoke))

    # Then the worker saw exactly the new queued job and the requeue, as Lambda stream records
    assert [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in seen] == [("INSERT", "a"), ("MODIFY", "b")]
    assert all(r["eventSourceARN"] == stream_arn for r in seen)
    assert seen[1]["dynamodb"]["OldImage"]["status"] == {"S": "skipped"}
    assert isinstance(seen[0]["dynamodb"]["ApproximateCreationDateTime"], int)


def test_batches_respect_the_batch_size(moto_url: str, table: tuple[str, str]) -> None:
    name, stream_arn = table
    for index in range(5):
        _put(moto_url, name, f"j{index}", "queued")
    sizes: list[int] = []

    _drain(_poller(moto_url, stream_arn, lambda _f, event: sizes.append(len(event["Records"])), batch_size=2))

    assert sizes == [2, 2, 1]


def test_reported_failure_is_retried_from_that_record_then_given_up(moto_url: str, table: tuple[str, str]) -> None:
    # Given three queued jobs, the second of which the function always reports as failed
    name, stream_arn = table
    for pk in ("x", "y", "z"):
        _put(moto_url, name, pk, "queued")
    calls: list[list[str]] = []

    def invoke(function_id: str, event: dict[str, Any]) -> dict[str, Any]:
        keys = [record["dynamodb"]["Keys"]["pk"]["S"] for record in event["Records"]]
        calls.append(keys)
        failed = [r["dynamodb"]["SequenceNumber"] for r in event["Records"] if r["dynamodb"]["Keys"]["pk"]["S"] == "y"]
        return {"batchItemFailures": [{"itemIdentifier": number} for number in failed]}

    # When the poller drains the stream
    poller = _poller(moto_url, stream_arn, invoke)
    _drain(poller)

    # Then the batch is retried from the failed record and, after three attempts, the rest is given up
    assert calls == [["x", "y", "z"], ["y", "z"], ["y", "z"]]
    assert poller.mappings[0].given_up == 2
    assert poller.mappings[0].pending == []


def test_raised_error_retries_the_whole_batch(moto_url: str, table: tuple[str, str]) -> None:
    name, stream_arn = table
    _put(moto_url, name, "e", "queued")
    attempts: list[int] = []

    def invoke(function_id: str, event: dict[str, Any]) -> None:
        attempts.append(len(event["Records"]))
        if len(attempts) < 3:
            raise RuntimeError("boom")

    poller = _poller(moto_url, stream_arn, invoke)
    _drain(poller)

    assert attempts == [1, 1, 1]
    assert poller.mappings[0].given_up == 0


def test_mappings_on_one_stream_share_each_read_and_keep_their_own_filters_and_failures(
    moto_url: str, table: tuple[str, str]
) -> None:
    # Given a job and a non-job item, and two mappings on the same stream: the worker's filter, and one that takes
    # every record and keeps failing
    name, stream_arn = table
    _put(moto_url, name, "a", "queued")
    _put(moto_url, name, "k", "active", entity="api_key")
    everything = EventSourceMappingDef("All", "AllFn", "Table", batch_size=10, starting_position="TRIM_HORIZON")
    worker = _poller(moto_url, stream_arn, None).mappings[0]
    seen: dict[str, list[tuple[str, str]]] = {"WorkerFn": [], "AllFn": []}

    def invoke(function_id: str, event: dict[str, Any]) -> None:
        images = [record["dynamodb"]["NewImage"] for record in event["Records"]]
        seen[function_id].extend((image["pk"]["S"], image["status"]["S"]) for image in images)
        if function_id == "AllFn":
            images[0]["status"]["S"] = "changed by AllFn"
            raise RuntimeError("AllFn fails")

    reads: list[str] = []

    def read(iterator: str, limit: int) -> Mapping[str, Any]:
        reads.append("read")
        return stream_records(iterator, limit)

    streams = moto_client("dynamodbstreams", moto_url)
    poller = StreamPoller([MappingState(everything, stream_arn), worker], invoke, streams, read=read)

    # When the poller polls three times
    for _ in range(3):
        poller.poll_once()

    # Then the stream was read once per poll, the worker got its job once, unchanged by the other function, and the
    # failing mapping was retried on its own, then gave up
    assert reads == ["read"] * 3
    assert seen["WorkerFn"] == [("a", "queued")]
    assert [pk for pk, _ in seen["AllFn"]] == ["a", "k"] * 3
    assert poller.mappings[0].given_up == 2
    assert worker.pending == []


def test_thread_stops_cleanly(moto_url: str, table: tuple[str, str]) -> None:
    _, stream_arn = table
    poller = _poller(moto_url, stream_arn, lambda _f, _e: None)
    poller.start()
    assert poller.alive
    poller.stop(timeout=5)
    assert not poller.alive
