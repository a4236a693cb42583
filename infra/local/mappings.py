"""Lambda event source mappings, polled as the Lambda service polls them: one poller core, two sources.

**Stream.** Each table stream is read once per poll for all its mappings, from moto's backend in-process
(:func:`~infra.local.moto_hooks.stream_records`). Each mapping keeps what its filter criteria pass (moto's
EventBridge pattern matcher: the same syntax) and invokes in order, in batches. A failed batch is retried from its
first failed record a few times, then logged and given up (no bisecting or on-failure queue locally; the
reconciler picks up what it missed). moto's own stream -> Lambda wiring is not used: it invokes inside ``PutItem``
(a handler calling back into the serialized server would wait for itself) and ignores filters and item failures.

**Queue.** Short polls (a long one would hold the serialized moto server), at most a batch per mapping. Failed
messages come back after ``retry_seconds`` instead of the visibility timeout, until moto's redrive policy moves them.

As in Lambda, an exception fails the whole batch, and so does a ``batchItemFailures`` answer naming an item outside
it; ``batchItemFailures`` counts only with ``ReportBatchItemFailures``.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from moto.events.models import EventPattern

from infra.local.loop import BackgroundLoop, Invoke
from infra.local.moto_hooks import stream_records
from infra.local.template import REGION, EventSourceMappingDef

if TYPE_CHECKING:
    from infra.local.backend import LocalResources
    from infra.local.template import AppTemplate

logger = logging.getLogger("infra.local.mappings")

MAX_ATTEMPTS = 3  # a failed stream record is tried this many times locally, then given up (logged)


@dataclass
class MappingState:
    """One mapping, its source (a stream ARN, or a queue's ARN and URL) and what its poller did."""

    mapping: EventSourceMappingDef
    source_arn: str
    queue_url: str | None = None
    pending: list[dict[str, Any]] = field(default_factory=list)  # stream records read, not yet processed
    attempts: int = 0  # at the first pending record
    invocations: int = 0
    done: int = 0  # records processed (stream) or messages deleted (queue)
    failed: int = 0  # records given up (stream) or messages left in the queue after an invocation
    errors: list[str] = field(default_factory=list)  # the latest function errors, newest last (at most 20)

    def __post_init__(self) -> None:
        self.patterns = tuple(EventPattern.load(raw) for raw in self.mapping.filter_patterns)

    def accept(self, record: Mapping[str, Any]) -> None:
        if not self.patterns or any(pattern.matches_event(record) for pattern in self.patterns):  # type: ignore[arg-type]
            self.pending.append(copy.deepcopy(dict(record)))  # each function gets records of its own


class MappingPoller(BackgroundLoop):
    """Polls its mappings in one background thread; ``stop()`` ends it after the batch in hand."""

    def __init__(
        self,
        mappings: list[MappingState],
        invoke: Invoke,
        client: Any,
        *,
        starting_position: str | None = None,
        poll_seconds: float = 0.5,
        retry_seconds: int = 2,
        read: Callable[[str, int], Mapping[str, Any]] = stream_records,
    ) -> None:
        """``client``: DynamoDB Streams' or SQS's; ``read(iterator, limit)`` answers ``GetRecords``."""
        self._get_records = read
        self.mappings = mappings
        self._invoke = invoke
        self._client = client
        self._starting_position = starting_position
        self._poll_seconds = poll_seconds
        self._retry_seconds = retry_seconds
        self._iterators: dict[str, str | None] = {}  # stream ARN -> its next shard iterator
        super().__init__("local-mapping-poller")

    @classmethod
    def for_template(
        cls, template: AppTemplate, resources: LocalResources, invoke: Invoke, *, queues: bool, **options: Any
    ) -> MappingPoller:
        from shared.aws import client

        if queues:
            ids = resources.physical_ids
            states = [
                MappingState(m, resources.queue_arns[m.source_id], ids[m.source_id])
                for m in template.sqs_event_source_mappings
            ]
            return cls(states, invoke, client("sqs"), **options)
        states = [MappingState(m, resources.stream_arns[m.source_id]) for m in template.event_source_mappings]
        return cls(states, invoke, client("dynamodbstreams"), **options)

    def start(self) -> None:
        if self.mappings:
            super().start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.poll_once()
            except Exception:
                logger.exception("event source mapping poller failed")
                busy = False
            if not busy:
                self._stop.wait(self._poll_seconds)

    def poll_once(self) -> bool:
        """One pass over every source; True when a queue had messages (the poller then polls again at once)."""
        for stream_arn in dict.fromkeys(state.source_arn for state in self.mappings if state.queue_url is None):
            try:
                self._read_stream(stream_arn)
            except Exception:
                logger.exception("stream poller: reading %s failed", stream_arn)
        busy = False
        for state in self.mappings:
            if state.queue_url is not None:
                busy = (not self._stop.is_set() and self.receive(state) > 0) or busy
            while state.pending and not self._stop.is_set() and self._process_records(state):
                pass  # a failed batch waits for the next poll, like Lambda's retry delay
        return busy

    def _read_stream(self, stream_arn: str) -> None:
        on_stream = [state for state in self.mappings if state.source_arn == stream_arn]
        if self._iterators.get(stream_arn) is None:
            self._iterators[stream_arn] = self._first_iterator(stream_arn, on_stream)
        if (iterator := self._iterators[stream_arn]) is None:
            return
        response = self._get_records(iterator, 1000)
        self._iterators[stream_arn] = response.get("NextShardIterator") or iterator
        for raw in response.get("Records", []):
            record = lambda_stream_record(raw, stream_arn)
            for state in on_stream:
                state.accept(record)

    def _first_iterator(self, stream_arn: str, on_stream: list[MappingState]) -> str | None:
        shards = self._client.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
        if not shards:
            return None
        positions = {self._starting_position or state.mapping.starting_position for state in on_stream}
        position = "LATEST" if positions == {"LATEST"} else "TRIM_HORIZON"
        shard = str(shards[-1]["ShardId"])
        found = self._client.get_shard_iterator(StreamArn=stream_arn, ShardId=shard, ShardIteratorType=position)
        return str(found["ShardIterator"])

    def _process_records(self, state: MappingState) -> bool:
        """Invoke the next stream batch; True when the poller may carry on at once."""
        batch = state.pending[: state.mapping.batch_size]
        state.attempts += 1
        failed_at = min(self._failed(state, batch, lambda record: record["dynamodb"]["SequenceNumber"]), default=None)
        del state.pending[: len(batch) if failed_at is None else failed_at]  # the records before a failure are done
        state.done += len(batch) if failed_at is None else failed_at
        if failed_at is not None and state.attempts < MAX_ATTEMPTS:
            return False
        if failed_at is not None:
            given_up = len(batch) - failed_at
            logger.warning(
                "%s: gave up on %d record(s) after %d attempts", state.mapping.function_id, given_up, state.attempts
            )
            del state.pending[:given_up]
            state.failed += given_up
        state.attempts = 0
        return True

    def receive(self, state: MappingState) -> int:
        """Receive one batch of a queue and invoke; returns how many messages it held."""
        messages = self._client.receive_message(
            QueueUrl=state.queue_url,
            MaxNumberOfMessages=max(1, min(10, state.mapping.batch_size)),
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        records = [lambda_sqs_record(message, state.source_arn) for message in messages]
        failed = self._failed(state, records, lambda record: record["messageId"])
        if done := [record for index, record in enumerate(records) if index not in failed]:
            entries = [{"Id": str(i), "ReceiptHandle": record["receiptHandle"]} for i, record in enumerate(done)]
            self._client.delete_message_batch(QueueUrl=state.queue_url, Entries=entries)
        for index in failed:  # received again soon; the queue's own visibility timeout applies if this fails
            handle = records[index]["receiptHandle"]
            self._client.change_message_visibility(
                QueueUrl=state.queue_url, ReceiptHandle=handle, VisibilityTimeout=self._retry_seconds
            )
        state.done += len(done)
        state.failed += len(failed)
        return len(messages)

    def _failed(self, state: MappingState, records: list[dict[str, Any]], item_id: Callable[[Any], str]) -> set[int]:
        """Invoke with ``records``; the positions of those that failed."""
        state.invocations += 1
        everything = set(range(len(records)))
        try:
            response = self._invoke(state.mapping.function_id, {"Records": records})
        except Exception as error:  # a function error: the whole batch failed
            state.errors = [*state.errors[-19:], f"{type(error).__name__}: {error}"]
            logger.warning("%s: batch of %d failed (%s)", state.mapping.function_id, len(records), state.errors[-1])
            return everything
        if not state.mapping.report_batch_item_failures or not isinstance(response, dict):
            return set()
        positions = {str(item_id(record)): index for index, record in enumerate(records)}
        named = {
            positions.get(str(failure.get("itemIdentifier")) if isinstance(failure, dict) else "")
            for failure in response.get("batchItemFailures") or []
        }
        failed = everything if None in named else {index for index in named if index is not None}
        if failed:
            logger.warning("%s: %d of %d item(s) failed", state.mapping.function_id, len(failed), len(records))
        return failed


def lambda_stream_record(raw: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """A ``GetRecords`` record as Lambda delivers it: ``eventSourceARN`` added, the creation time in seconds."""
    record: dict[str, Any] = json.loads(
        json.dumps(dict(raw), default=lambda value: int(value.timestamp()) if isinstance(value, datetime) else None)
    )
    return {**record, "eventSourceARN": stream_arn, "awsRegion": record.get("awsRegion", REGION)}


def lambda_sqs_record(message: Mapping[str, Any], queue_arn: str) -> dict[str, Any]:
    """A ``ReceiveMessage`` message as Lambda delivers it (the stack sends no message attributes)."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": str(message.get("Body", "")),
        "attributes": {str(name): str(value) for name, value in (message.get("Attributes") or {}).items()},
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }
