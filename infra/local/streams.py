"""DynamoDB stream -> Lambda event source mappings, polled locally the way the Lambda service polls them.

One background thread reads each mapping's table stream from moto (``dynamodbstreams``: shards, iterators,
``GetRecords`` every half second), drops the records the mapping's filter criteria reject (moto's EventBridge
pattern matcher: the same syntax) and hands the rest to the function in-process in batches of the mapping's batch
size. A failed batch (a raised exception, or ``batchItemFailures`` with ``ReportBatchItemFailures``) is tried
again from its first failed record on the next polls, a few times, then logged and given up: locally there is
no bisecting and no on-failure queue (the deployed mapping has both; the reconciler picks up what it missed).

moto's own stream -> Lambda wiring is not used: it invokes the function inside the ``PutItem`` request, and a
handler calling back into the server from there would wait for itself.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from moto.events.models import EventPattern

from infra.local.loop import BackgroundLoop
from infra.local.template import REGION, EventSourceMappingDef

logger = logging.getLogger("infra.local.streams")

POLL_SECONDS = 0.5
MAX_ATTEMPTS = 3  # a failed record is tried this many times locally, then given up (logged)
_GET_RECORDS_LIMIT = 1000


def compile_patterns(raw_patterns: tuple[str, ...]) -> tuple[EventPattern, ...]:
    """The mapping's ``FilterCriteria`` patterns, parsed by moto's EventBridge pattern matcher (same syntax)."""
    return tuple(EventPattern.load(raw) for raw in raw_patterns)


def lambda_record(raw: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """A ``GetRecords`` record as Lambda delivers it: ``eventSourceARN`` added, the creation time in seconds."""
    record: dict[str, Any] = json.loads(
        json.dumps(dict(raw), default=lambda value: int(value.timestamp()) if isinstance(value, datetime) else None)
    )
    record["eventSourceARN"] = stream_arn
    record.setdefault("awsRegion", REGION)
    return record


@dataclass
class MappingState:
    """One mapping's progress: the records read but not yet processed, and the attempts at the first one."""

    mapping: EventSourceMappingDef
    function_name: str
    stream_arn: str
    patterns: tuple[EventPattern, ...]
    iterator: str | None = None
    pending: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    invocations: int = 0
    given_up: int = 0


class StreamPoller(BackgroundLoop):
    """Polls every mapping's stream in one background thread; ``stop()`` ends it."""

    def __init__(
        self,
        mappings: list[MappingState],
        invoke: Callable[[str, dict[str, Any]], Any],
        streams_client: Any,
        *,
        starting_position: str | None = None,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        """``invoke(function_id, event)`` runs a function; ``starting_position`` overrides the mappings' own."""
        self.mappings = mappings
        self._invoke = invoke
        self._streams = streams_client
        self._starting_position = starting_position
        self._poll_seconds = poll_seconds
        super().__init__("local-stream-poller")

    def start_positions(self) -> None:
        """Take each mapping's first shard iterator (at its starting position) without starting the thread."""
        for state in self.mappings:
            state.iterator = self._first_iterator(state)

    def start(self) -> None:
        self.start_positions()
        super().start()

    def _first_iterator(self, state: MappingState) -> str | None:
        shards = self._streams.describe_stream(StreamArn=state.stream_arn)["StreamDescription"]["Shards"]
        if not shards:
            return None
        position = self._starting_position or state.mapping.starting_position
        response = self._streams.get_shard_iterator(
            StreamArn=state.stream_arn,
            ShardId=str(shards[-1]["ShardId"]),
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
            if not state.patterns or any(pattern.matches_event(record) for pattern in state.patterns):  # type: ignore[arg-type]
                state.pending.append(record)
        while state.pending and not self._stop.is_set():
            if not self._process_batch(state):
                return  # a failed batch waits for the next poll, like Lambda's retry delay

    def _process_batch(self, state: MappingState) -> bool:
        """Invoke the function with the next batch; True when the poller may carry on at once."""
        batch = state.pending[: state.mapping.batch_size]
        state.invocations += 1
        state.attempts += 1
        try:
            response = self._invoke(state.mapping.function_id, {"Records": batch})
            failed_at = _first_failure(batch, response) if state.mapping.report_batch_item_failures else None
        except Exception as error:  # a function error, as Lambda sees it
            logger.warning(
                "%s: batch of %d failed (%s: %s)", state.function_name, len(batch), type(error).__name__, error
            )
            failed_at = 0
        if failed_at is None:
            del state.pending[: len(batch)]
            state.attempts = 0
            return True
        del state.pending[:failed_at]  # the records before the first failure are done
        if state.attempts < MAX_ATTEMPTS:
            return False
        logger.warning(
            "%s: gave up on %d record(s) after %d attempts", state.function_name, len(batch) - failed_at, state.attempts
        )
        del state.pending[: len(batch) - failed_at]
        state.given_up += len(batch) - failed_at
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
