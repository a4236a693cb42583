"""The local SQS consumer (batches, ``batchItemFailures``, moto's redrive to the dead-letter queue, a clean stop),
and the transaction rollback that keeps the table's stream alive."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from infra.local.mappings import MappingPoller, MappingState
from infra.local.moto_hooks import install as install_transaction_rollback
from infra.local.template import EventSourceMappingDef
from tests.local.conftest import moto_client

MAX_RECEIVE_COUNT = 3


def queue_depth(sqs_client: Any, queue_url: str) -> int:
    """Messages in a queue, visible or in flight (e.g. the poll dead-letter queue's)."""
    attributes = sqs_client.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def _queues(url: str, name: str) -> tuple[str, str, str]:
    """A queue with a dead-letter queue after MAX_RECEIVE_COUNT receives: (url, arn, dead-letter url)."""
    sqs = moto_client("sqs", url)
    dead = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": "1800",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}),
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return queue, arn, dead


def _poller(url: str, queue: str, arn: str, invoke: Any, *, batch_size: int = 5) -> MappingPoller:
    mapping = EventSourceMappingDef("Mapping", "Fn", "Queue", batch_size=batch_size, report_batch_item_failures=True)
    state = MappingState(mapping, arn, queue_url=queue)
    return MappingPoller([state], invoke, moto_client("sqs", url), poll_seconds=0.05, retry_seconds=0)


def test_batch_item_failures_stay_and_go_to_the_dead_letter_queue(moto_url: str) -> None:
    # Given three messages and a function that fails the one saying "bad"
    queue, arn, dead = _queues(moto_url, "partial")
    sqs = moto_client("sqs", moto_url)
    for body in ("one", "bad", "three"):
        sqs.send_message(QueueUrl=queue, MessageBody=body)
    events: list[dict[str, Any]] = []

    def invoke(function_id: str, event: dict[str, Any]) -> dict[str, Any]:
        events.append(event)
        return {
            "batchItemFailures": [
                {"itemIdentifier": record["messageId"]} for record in event["Records"] if record["body"] == "bad"
            ]
        }

    poller = _poller(moto_url, queue, arn, invoke)
    state = poller.mappings[0]

    # When the consumer polls until the queue is empty
    for _ in range(10):
        if poller.receive(state) == 0:
            break

    # Then the good ones were deleted at once, the bad one was received three times, then dead-lettered by moto
    assert sorted(record["body"] for record in events[0]["Records"]) == ["bad", "one", "three"]
    assert [len(event["Records"]) for event in events] == [3, 1, 1]
    assert [event["Records"][0]["attributes"]["ApproximateReceiveCount"] for event in events[1:]] == ["2", "3"]
    assert (state.done, state.failed, state.invocations) == (2, 3, 3)
    assert queue_depth(sqs, queue) == 0
    assert [message["Body"] for message in sqs.receive_message(QueueUrl=dead).get("Messages", [])] == ["bad"]
    record = events[0]["Records"][0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == arn
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"messageId", "receiptHandle", "body", "md5OfBody", "messageAttributes", "awsRegion"} <= set(record)


def test_a_raised_error_keeps_the_whole_batch(moto_url: str) -> None:
    queue, arn, _ = _queues(moto_url, "raising")
    sqs = moto_client("sqs", moto_url)
    sqs.send_message_batch(
        QueueUrl=queue, Entries=[{"Id": str(index), "MessageBody": f"m{index}"} for index in range(7)]
    )

    def invoke(function_id: str, event: dict[str, Any]) -> Any:
        raise RuntimeError("CallRail is down")

    poller = _poller(moto_url, queue, arn, invoke, batch_size=5)

    # A batch is at most the mapping's batch size, and none of it is deleted.
    assert poller.receive(poller.mappings[0]) == 5
    assert poller.mappings[0].done == 0
    assert poller.mappings[0].errors == ["RuntimeError: CallRail is down"]
    assert queue_depth(sqs, queue) == 7


def test_an_answer_naming_a_message_outside_the_batch_fails_the_whole_batch(moto_url: str) -> None:
    queue, arn, _ = _queues(moto_url, "unknown")
    sqs = moto_client("sqs", moto_url)
    sqs.send_message_batch(QueueUrl=queue, Entries=[{"Id": str(index), "MessageBody": "m"} for index in range(2)])
    poller = _poller(moto_url, queue, arn, lambda _f, _e: {"batchItemFailures": [{"itemIdentifier": "zzz"}]})

    assert poller.receive(poller.mappings[0]) == 2
    assert (poller.mappings[0].done, poller.mappings[0].failed) == (0, 2)


def test_thread_processes_messages_and_stops_cleanly(moto_url: str) -> None:
    queue, arn, _ = _queues(moto_url, "threaded")
    sqs = moto_client("sqs", moto_url)
    seen: list[str] = []
    poller = _poller(moto_url, queue, arn, lambda _fid, event: seen.extend(r["body"] for r in event["Records"]))
    before = set(threading.enumerate())
    poller.start()
    sqs.send_message(QueueUrl=queue, MessageBody="hello")
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:
        time.sleep(0.05)

    poller.stop()

    assert seen == ["hello"]
    assert not poller.alive
    # The moto server may still be closing the last request's thread; only the poller's own threads count.
    left = [thread for thread in set(threading.enumerate()) - before if thread.is_alive()]
    assert not [thread for thread in left if "process_request_thread" not in thread.name]


def test_cancelled_transaction_rolls_back_without_killing_the_stream(moto_url: str) -> None:
    install_transaction_rollback()
    # Given a table with a stream and an iterator at its end
    dynamodb = moto_client("dynamodb", moto_url)
    streams = moto_client("dynamodbstreams", moto_url)
    stream_arn = dynamodb.create_table(
        TableName="transactions",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    dynamodb.put_item(TableName="transactions", Item={"pk": {"S": "counter"}, "count": {"N": "1"}})
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard, ShardIteratorType="LATEST")[
        "ShardIterator"
    ]

    # When a transaction puts an item and updates the counter, then fails the counter's condition
    with pytest.raises(ClientError, match="TransactionCanceled"):
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "transactions", "Item": {"pk": {"S": "job"}}}},
                {
                    "Update": {
                        "TableName": "transactions",
                        "Key": {"pk": {"S": "counter"}},
                        "UpdateExpression": "SET #c = #c + :one",
                        "ConditionExpression": "#c < :limit",
                        "ExpressionAttributeNames": {"#c": "count"},
                        "ExpressionAttributeValues": {":one": {"N": "1"}, ":limit": {"N": "1"}},
                    }
                },
            ]
        )
    # and a later write succeeds
    dynamodb.put_item(TableName="transactions", Item={"pk": {"S": "after"}})

    # Then nothing of the transaction stayed, and the same iterator sees only the later write
    assert "Item" not in dynamodb.get_item(TableName="transactions", Key={"pk": {"S": "job"}})
    counter = dynamodb.get_item(TableName="transactions", Key={"pk": {"S": "counter"}})["Item"]
    assert counter["count"] == {"N": "1"}
    records = streams.get_records(ShardIterator=iterator)["Records"]
    assert [record["dynamodb"]["Keys"]["pk"]["S"] for record in records] == ["after"]
