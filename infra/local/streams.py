"""DynamoDB stream -> Lambda event source mappings, polled locally the way the Lambda service polls them.

One background thread reads each table stream from moto (``GetRecords`` every half second, once for all the
mappings on it), drops for each mapping the records its filter criteria reject (moto's EventBridge pattern
matcher: the same syntax) and hands the rest to the function in batches of the mapping's batch size. A failed
batch (a raised exception, or ``batchItemFailures`` with ``ReportBatchItemFailures``) is tried again from its first
failed record, a few times, then logged and given up: locally there is no bisecting and no on-failure queue (the
deployed mapping has both; the reconciler picks up what it missed).

moto 5.2.5's own stream -> Lambda wiring is not used: it invokes the function inside the ``PutItem`` request (a
handler calling back into the serialized server would wait for itself), ignores filter criteria and batch item
failures, and empties the shard's records after each invocation.
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

logger = logging.getLogger("infra.local.streams")

MAX_ATTEMPTS = 3  # a failed record is tried this many times locally, then given up (logged)


def lambda_record(raw: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """A ``GetRecords`` record as Lambda delivers it: ``eventSourceARN`` added, the creation time in seconds."""
    record: dict[str, Any] = json.loads(
        json.dumps(dict(raw), default=lambda value: int(value.timestamp()) if isinstance(value, datetime) else None)
    )
    return {**record, "eventSourceARN": stream_arn, "awsRegion": record.get("awsRegion", REGION)}


@dataclass
class MappingState:
    """One mapping's progress: the records read but not yet processed, and the attempts at the first one."""

    mapping: EventSourceMappingDef
    stream_arn: str
    pending: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    given_up: int = 0

    def __post_init__(self) -> None:
        self.patterns = tuple(EventPattern.load(raw) for raw in self.mapping.filter_patterns)

    def accept(self, record: Mapping[str, Any]) -> None:
        """Keep ``record`` for the function if the mapping's filter criteria let it through."""
        if not self.patterns or any(pattern.matches_event(record) for pattern in self.patterns):  # type: ignore[arg-type]
            self.pending.append(copy.deepcopy(dict(record)))  # each function gets records of its own


class StreamPoller(BackgroundLoop):
    """Polls every mapping's stream in one background thread; ``stop()`` ends it.

    Each stream is read once per poll and its records go to every mapping on it (each with its own filter,
    pending records and retries), as if each mapping read the stream itself: moto answers ``GetRecords`` one
    request at a time and spends most of it serializing the records, so reading a stream once per mapping would
    hold the whole backend that many times as long.
    """

    def __init__(
        self,
        mappings: list[MappingState],
        invoke: Invoke,
        streams_client: Any,
        *,
        starting_position: str | None = None,
        poll_seconds: float = 0.5,
        read: Callable[[str, int], Mapping[str, Any]] = stream_records,
    ) -> None:
        """``starting_position`` overrides the mappings' own; ``read(iterator, limit)`` answers ``GetRecords``."""
        self.mappings = mappings
        self._get_records = read
        self._iterators: dict[str, str | None] = {}  # stream ARN -> its next shard iterator
        self._invoke = invoke
        self._streams = streams_client
        self._starting_position = starting_position
        self._poll_seconds = poll_seconds
        super().__init__("local-stream-poller")

    @classmethod
    def for_template(
        cls, template: AppTemplate, resources: LocalResources, invoke: Invoke, **options: Any
    ) -> StreamPoller:
        """A poller for every DynamoDB stream event source mapping of the template (not started)."""
        from shared.aws import client

        mappings = [
            MappingState(mapping, resources.stream_arns[mapping.table_id]) for mapping in template.event_source_mappings
        ]
        return cls(mappings, invoke, client("dynamodbstreams"), **options)

    def start(self) -> None:
        for state in self.mappings:
            if state.stream_arn not in self._iterators:
                self._iterators[state.stream_arn] = self._first_iterator(state)
        super().start()

    def _first_iterator(self, state: MappingState) -> str | None:
        shards = self._streams.describe_stream(StreamArn=state.stream_arn)["StreamDescription"]["Shards"]
        if not shards:
            return None
        positions = {self._starting_position or m.mapping.starting_position for m in self._on(state.stream_arn)}
        return str(
            self._streams.get_shard_iterator(
                StreamArn=state.stream_arn,
                ShardId=str(shards[-1]["ShardId"]),
                ShardIteratorType="LATEST" if positions == {"LATEST"} else "TRIM_HORIZON",
            )["ShardIterator"]
        )

    def _on(self, stream_arn: str) -> list[MappingState]:
        return [state for state in self.mappings if state.stream_arn == stream_arn]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:
                logger.exception("stream poller failed")
            self._stop.wait(self._poll_seconds)

    def poll_once(self) -> None:
        """Read what each stream has, then process every mapping's pending records batch by batch (one pass)."""
        for stream_arn in dict.fromkeys(state.stream_arn for state in self.mappings):
            try:
                self._read(stream_arn)
            except Exception:
                logger.exception("stream poller: reading %s failed", stream_arn)
        for state in self.mappings:
            while state.pending and not self._stop.is_set() and self._process_batch(state):
                pass  # a failed batch waits for the next poll, like Lambda's retry delay

    def _read(self, stream_arn: str) -> None:
        on_stream = self._on(stream_arn)
        iterator = self._iterators.get(stream_arn) or self._first_iterator(on_stream[0])
        self._iterators[stream_arn] = iterator
        if iterator is None:
            return
        response = self._get_records(iterator, 1000)
        self._iterators[stream_arn] = response.get("NextShardIterator") or iterator
        for raw in response.get("Records", []):
            record = lambda_record(raw, stream_arn)
            for state in on_stream:
                state.accept(record)

    def _process_batch(self, state: MappingState) -> bool:
        """Invoke the function with the next batch; True when the poller may carry on at once."""
        batch = state.pending[: state.mapping.batch_size]
        state.attempts += 1
        try:
            response = self._invoke(state.mapping.function_id, {"Records": batch})
            failed_at = _first_failure(batch, response) if state.mapping.report_batch_item_failures else None
        except Exception as error:  # a function error, as Lambda sees it
            logger.warning(
                "%s: batch of %d failed (%s: %s)", state.mapping.function_id, len(batch), type(error).__name__, error
            )
            failed_at = 0
        del state.pending[: len(batch) if failed_at is None else failed_at]  # the records before a failure are done
        if failed_at is not None and state.attempts < MAX_ATTEMPTS:
            return False
        if failed_at is not None:
            given_up = len(batch) - failed_at
            logger.warning(
                "%s: gave up on %d record(s) after %d attempts", state.mapping.function_id, given_up, state.attempts
            )
            del state.pending[:given_up]
            state.given_up += given_up
        state.attempts = 0
        return True


def _first_failure(batch: list[dict[str, Any]], response: Any) -> int | None:
    """Index in ``batch`` of the first record the function reported failed, or None when all succeeded.

    As in Lambda, an answer naming a record outside the batch fails the whole batch.
    """
    failures = response.get("batchItemFailures") if isinstance(response, dict) else None
    if not failures:
        return None
    positions = {str(record["dynamodb"].get("SequenceNumber")): index for index, record in enumerate(batch)}
    identifiers = [str(failure.get("itemIdentifier")) if isinstance(failure, dict) else "" for failure in failures]
    return min(positions.get(identifier, 0) for identifier in identifiers)
