"""SQS -> Lambda event source mappings, polled locally the way the Lambda service polls a queue.

One background thread polls each mapping's queue in moto (``ReceiveMessage`` with the mapping's batch size, at
most ten, the most one receive returns),
hands the messages to the function in-process as a Lambda SQS event, and honours the answer as Lambda does:
every message of a successful invocation is deleted; with ``ReportBatchItemFailures`` the messages named in
``batchItemFailures`` stay in the queue and the others are deleted; a raised exception (or an answer naming a
message outside the batch) leaves the whole batch. A message left in the queue is received again, and moto's
redrive policy moves it to the dead-letter queue once it was received ``maxReceiveCount`` times.

Two local differences, both about time:

- short polls (``WaitTimeSeconds=0``) every ``poll_seconds``: the embedded moto server handles one request at a
  time, so a long poll would hold every other AWS call of the runtime for its duration;
- a message that failed becomes visible again after ``retry_seconds`` (``ChangeMessageVisibility``) rather than
  after the queue's visibility timeout (30 minutes for the poll queue), so a retry shows within seconds.

``ScalingConfig.MaximumConcurrency`` is read but not needed: one thread invokes one batch at a time (and the
function host serializes invocations anyway).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.local.loop import BackgroundLoop
from infra.local.template import REGION, SqsEventSourceMappingDef

logger = logging.getLogger("infra.local.queues")

POLL_SECONDS = 0.5
RETRY_SECONDS = 2
_SQS_MAX_BATCH = 10  # ReceiveMessage returns at most ten messages per request


@dataclass
class QueueMappingState:
    """One mapping's queue and what the consumer did with it so far."""

    mapping: SqsEventSourceMappingDef
    function_name: str
    queue_url: str
    queue_arn: str
    invocations: int = 0
    deleted: int = 0
    failed: int = 0  # messages left in the queue after an invocation (retried, then dead-lettered by moto)
    errors: list[str] = field(default_factory=list)  # the latest function errors, newest last (at most 20)


def lambda_sqs_record(message: Mapping[str, Any], queue_arn: str) -> dict[str, Any]:
    """A ``ReceiveMessage`` message as Lambda delivers it in an SQS event's ``Records`` (the stack sends no
    message attributes)."""
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


def failed_message_ids(records: list[dict[str, Any]], response: Any, *, report_failures: bool) -> set[str]:
    """The messages of the batch that stay in the queue after an invocation that returned ``response``.

    Without ``ReportBatchItemFailures`` the answer is ignored (a return is a success). With it, as in Lambda,
    an empty or absent ``batchItemFailures`` is a success, and an entry without an ``itemIdentifier`` of this
    batch fails the whole batch.
    """
    if not report_failures or not isinstance(response, dict):
        return set()
    failures = response.get("batchItemFailures")
    if not failures:
        return set()
    ids = {record["messageId"] for record in records}
    named = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or str(identifier) not in ids:
            return ids
        named.add(str(identifier))
    return named


class QueuePoller(BackgroundLoop):
    """Polls every mapping's queue in one background thread; ``stop()`` ends it after the batch in hand."""

    def __init__(
        self,
        mappings: list[QueueMappingState],
        invoke: Callable[[str, dict[str, Any]], Any],
        sqs_client: Any,
        *,
        poll_seconds: float = POLL_SECONDS,
        retry_seconds: int = RETRY_SECONDS,
    ) -> None:
        """``invoke(function_id, event)`` runs a function in-process."""
        self.mappings = mappings
        self._invoke = invoke
        self._sqs = sqs_client
        self._poll_seconds = poll_seconds
        self._retry_seconds = retry_seconds
        super().__init__("local-queue-poller")

    def start(self) -> None:
        if self.mappings:
            super().start()

    def stop(self, timeout: float = 30) -> None:
        super().stop(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            busy = False
            for state in self.mappings:
                if self._stop.is_set():
                    break
                try:
                    busy = self.poll_once(state) > 0 or busy
                except Exception:
                    logger.exception("queue poller: %s failed", state.mapping.logical_id)
            if not busy:
                self._stop.wait(self._poll_seconds)

    def poll_once(self, state: QueueMappingState) -> int:
        """Receive one batch and hand it to the function; returns how many messages it held (0: none waiting)."""
        response = self._sqs.receive_message(
            QueueUrl=state.queue_url,
            MaxNumberOfMessages=max(1, min(_SQS_MAX_BATCH, state.mapping.batch_size)),
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["All"],
        )
        messages = response.get("Messages") or []
        if not messages:
            return 0
        records = [lambda_sqs_record(message, state.queue_arn) for message in messages]
        self.process(state, records)
        return len(records)

    def process(self, state: QueueMappingState, records: list[dict[str, Any]]) -> set[str]:
        """Invoke the function with ``records``, delete what succeeded; returns the ids left in the queue."""
        state.invocations += 1
        try:
            response = self._invoke(state.mapping.function_id, {"Records": records})
        except Exception as error:  # a function error: the whole batch is retried
            self._remember(state, f"{type(error).__name__}: {error}")
            logger.warning(
                "%s: batch of %d message(s) failed (%s: %s); they stay in the queue",
                state.function_name,
                len(records),
                type(error).__name__,
                error,
            )
            failed = {record["messageId"] for record in records}
        else:
            failed = failed_message_ids(records, response, report_failures=state.mapping.report_batch_item_failures)
            if failed:
                logger.warning(
                    "%s: %d of %d message(s) reported as failed; they stay in the queue",
                    state.function_name,
                    len(failed),
                    len(records),
                )
        done = [record for record in records if record["messageId"] not in failed]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=state.queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": record["receiptHandle"]} for index, record in enumerate(done)
                ],
            )
            state.deleted += len(done)
        for record in records:
            if record["messageId"] in failed:
                self._retry_soon(state, record)
        state.failed += len(failed)
        return failed

    def _retry_soon(self, state: QueueMappingState, record: dict[str, Any]) -> None:
        try:
            self._sqs.change_message_visibility(
                QueueUrl=state.queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=self._retry_seconds
            )
        except Exception:  # the queue's own visibility timeout then applies
            logger.exception("queue poller: could not shorten the visibility of %s", record["messageId"])

    @staticmethod
    def _remember(state: QueueMappingState, error: str) -> None:
        state.errors.append(error)
        del state.errors[:-20]


def queue_depth(sqs_client: Any, queue_url: str) -> int:
    """Messages in a queue, visible or in flight (e.g. the poll dead-letter queue's)."""
    attributes = sqs_client.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes.get("ApproximateNumberOfMessages", 0)) + int(
        attributes.get("ApproximateNumberOfMessagesNotVisible", 0)
    )
