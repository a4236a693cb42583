"""DynamoDB stream -> Lambda event source mappings, polled locally the way the Lambda service polls them.

One background thread reads each mapping's table stream from moto (``dynamodbstreams``: shards, iterators,
``GetRecords`` every half second), drops the records the mapping's filter criteria reject, hands the rest to the
function in-process in batches of the mapping's batch size, and honours the answer: a raised exception retries
the batch (halved if the mapping bisects on error); ``batchItemFailures`` (with ``ReportBatchItemFailures``)
retries from the first failed record. After the mapping's retry attempts (bounded locally) the records are
given up: logged, and described on the mapping's on-failure SQS queue as Lambda would.

moto's own stream -> Lambda wiring is not used: it invokes the function inside the ``PutItem`` request, and a
handler calling back into the server from there would wait for itself.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.events.models import EventPattern

from infra.local.loop import BackgroundLoop
from infra.local.template import ACCOUNT_ID, REGION, EventSourceMappingDef

logger = logging.getLogger("infra.local.streams")

POLL_SECONDS = 0.5
LOCAL_MAX_RETRY_ATTEMPTS = 10  # a mapping that retries "forever" (-1) gives up after this many locally
_GET_RECORDS_LIMIT = 1000

Invoke = Callable[[dict[str, Any]], Any]


def matches(record: Mapping[str, Any], patterns: tuple[EventPattern, ...]) -> bool:
    """Lambda event filtering: no filter lets everything through, otherwise any one pattern must match."""
    return not patterns or any(pattern.matches_event(dict(record)) for pattern in patterns)  # type: ignore[arg-type]


def compile_patterns(raw_patterns: tuple[str, ...]) -> tuple[EventPattern, ...]:
    """The mapping's ``FilterCriteria`` patterns, parsed by moto's EventBridge pattern matcher (same syntax)."""
    return tuple(EventPattern.load(raw) for raw in raw_patterns)


def lambda_record(raw: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """A ``GetRecords`` record as Lambda delivers it: ``eventSourceARN`` added, the creation time in seconds."""
    record: dict[str, Any] = json.loads(json.dumps(dict(raw), default=_jsonable))
    record["eventSourceARN"] = stream_arn
    record.setdefault("awsRegion", REGION)
    return record


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return int(value.timestamp())
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


@dataclass
class MappingState:
    """One mapping's progress: the records read but not yet processed, and the attempts at the first one."""

    mapping: EventSourceMappingDef
    function_name: str
    stream_arn: str
    patterns: tuple[EventPattern, ...]
    on_failure_queue_url: str | None
    iterator: str | None = None
    shard_id: str | None = None
    pending: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    batch_limit: int = 0
    invocations: int = 0
    dead_lettered: list[dict[str, Any]] = field(default_factory=list)

    @property
    def max_attempts(self) -> int:
        retries = self.mapping.maximum_retry_attempts
        return 1 + (LOCAL_MAX_RETRY_ATTEMPTS if retries < 0 else min(retries, LOCAL_MAX_RETRY_ATTEMPTS))


class StreamPoller(BackgroundLoop):
    """Polls every mapping's stream in one background thread; ``stop()`` ends it."""

    def __init__(
        self,
        mappings: list[MappingState],
        invoke: Callable[[str, dict[str, Any]], Any],
        streams_client: Any,
        sqs_client: Any = None,
        *,
        starting_position: str | None = None,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        """``invoke(function_id, event)`` runs a function; ``starting_position`` overrides the mappings' own."""
        self.mappings = mappings
        self._invoke = invoke
        self._streams = streams_client
        self._sqs = sqs_client
        self._starting_position = starting_position
        self._poll_seconds = poll_seconds
        super().__init__("local-stream-poller")

    def start_positions(self) -> None:
        """Take each mapping's first shard iterator (at its starting position) without starting the thread."""
        for state in self.mappings:
            state.iterator = self._first_iterator(state)
            state.batch_limit = state.mapping.batch_size

    def start(self) -> None:
        self.start_positions()
        super().start()

    def _first_iterator(self, state: MappingState) -> str | None:
        shards = self._streams.describe_stream(StreamArn=state.stream_arn)["StreamDescription"]["Shards"]
        if not shards:
            return None
        position = self._starting_position or state.mapping.starting_position
        state.shard_id = str(shards[-1]["ShardId"])
        response = self._streams.get_shard_iterator(
            StreamArn=state.stream_arn,
            ShardId=state.shard_id,
            ShardIteratorType="LATEST" if position == "LATEST" else "TRIM_HORIZON",
        )
        return str(response["ShardIterator"])

    def _run(self) -> None:
        while not self._stop.is_set():
            for state in self.mappings:
                try:
                    self.poll_once(state)
                except Exception:
                    logger.exception("stream poller: %s failed", state.mapping.logical_id)
            self._stop.wait(self._poll_seconds)

    def poll_once(self, state: MappingState) -> None:
        """Read what the stream has, then process the pending records batch by batch (one pass)."""
        if state.iterator is None:
            state.iterator = self._first_iterator(state)
            if state.iterator is None:
                return
        response = self._streams.get_records(ShardIterator=state.iterator, Limit=_GET_RECORDS_LIMIT)
        state.iterator = response.get("NextShardIterator") or state.iterator
        for raw in response.get("Records", []):
            record = lambda_record(raw, state.stream_arn)
            if matches(record, state.patterns):
                state.pending.append(record)
        while state.pending and not self._stop.is_set():
            if not self._process_batch(state):
                return  # a failed batch waits for the next poll, like Lambda's retry delay

    def _process_batch(self, state: MappingState) -> bool:
        """Invoke the function with the next batch; True when the poller may carry on at once."""
        batch = state.pending[: max(1, min(state.batch_limit, state.mapping.batch_size))]
        state.invocations += 1
        state.attempts += 1
        try:
            response = self._invoke(state.mapping.function_id, {"Records": batch})
        except Exception as error:  # a function error, as Lambda sees it
            logger.warning(
                "%s: batch of %d failed (%s: %s), attempt %d of %d",
                state.function_name,
                len(batch),
                type(error).__name__,
                error,
                state.attempts,
                state.max_attempts,
            )
            if state.mapping.bisect_on_error and len(batch) > 1:
                state.batch_limit = max(1, len(batch) // 2)
            return self._retry_or_give_up(state, len(batch), "Unhandled")
        failed_at = _first_failure(batch, response) if state.mapping.report_batch_item_failures else None
        if failed_at is None:
            del state.pending[: len(batch)]
            state.attempts = 0
            state.batch_limit = state.mapping.batch_size
            return True
        # The records before the first failure are done; the batch is retried from that record.
        del state.pending[:failed_at]
        logger.warning(
            "%s: record %s reported as failed, attempt %d of %d",
            state.function_name,
            state.pending[0]["dynamodb"].get("SequenceNumber"),
            state.attempts,
            state.max_attempts,
        )
        return self._retry_or_give_up(state, len(batch) - failed_at, None)

    def _retry_or_give_up(self, state: MappingState, count: int, function_error: str | None) -> bool:
        if state.attempts < state.max_attempts:
            return False
        given_up, state.pending = state.pending[:count], state.pending[count:]
        state.attempts = 0
        state.batch_limit = state.mapping.batch_size
        self._dead_letter(state, given_up, function_error)
        return True

    def _dead_letter(self, state: MappingState, records: list[dict[str, Any]], function_error: str | None) -> None:
        sequence_numbers = [str(record["dynamodb"].get("SequenceNumber")) for record in records]
        logger.warning(
            "%s: gave up on %d record(s) after %d attempts (sequence numbers %s)%s",
            state.function_name,
            len(records),
            state.max_attempts,
            ", ".join(sequence_numbers),
            " -> on-failure queue" if state.on_failure_queue_url else "",
        )
        arrivals = [record["dynamodb"].get("ApproximateCreationDateTime") for record in records]
        message = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{state.function_name}",
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": state.max_attempts,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                **({"functionError": function_error} if function_error else {}),
            },
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "DDBStreamBatchInfo": {
                "shardId": state.shard_id,
                "startSequenceNumber": sequence_numbers[0],
                "endSequenceNumber": sequence_numbers[-1],
                "approximateArrivalOfFirstRecord": arrivals[0],
                "approximateArrivalOfLastRecord": arrivals[-1],
                "batchSize": len(records),
                "streamArn": state.stream_arn,
            },
        }
        state.dead_lettered.append(message)
        if state.on_failure_queue_url and self._sqs is not None:
            self._sqs.send_message(QueueUrl=state.on_failure_queue_url, MessageBody=json.dumps(message))


def _first_failure(batch: list[dict[str, Any]], response: Any) -> int | None:
    """Index in ``batch`` of the first record the function reported failed, or None when all succeeded.

    As in Lambda, an answer naming a record outside the batch (or none) fails the whole batch.
    """
    failures = response.get("batchItemFailures") if isinstance(response, dict) else None
    if not failures:
        return None
    positions = {str(record["dynamodb"].get("SequenceNumber")): index for index, record in enumerate(batch)}
    indexes = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if identifier is None or str(identifier) not in positions:
            return 0
        indexes.append(positions[str(identifier)])
    return min(indexes)
