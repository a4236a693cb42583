"""SQS -> Lambda event source mappings, polled locally the way the Lambda service polls a queue.

One background thread receives each mapping's queue in moto (at most the mapping's batch size, ten at most) and
hands the messages to the function as a Lambda SQS event. As in Lambda, a successful invocation deletes its
messages; with ``ReportBatchItemFailures`` those named in ``batchItemFailures`` stay (an answer naming a message
outside the batch, or a raised exception, keeps the whole batch). A message left in the queue is received again,
and moto's redrive policy moves it to the dead-letter queue after ``maxReceiveCount`` receives.

Two local differences, both about time: short polls every ``poll_seconds`` (a long poll would hold the serialized
moto server, and every other AWS call of the runtime, for its duration), and a failed message is visible again
after ``retry_seconds`` instead of the queue's visibility timeout (30 minutes for the poll queue).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from infra.local.loop import BackgroundLoop, Invoke
from infra.local.template import REGION, SqsEventSourceMappingDef

if TYPE_CHECKING:
    from infra.local.backend import LocalResources
    from infra.local.template import AppTemplate

logger = logging.getLogger("infra.local.queues")


@dataclass
class QueueMappingState:
    """One mapping's queue and what the consumer did with it so far."""

    mapping: SqsEventSourceMappingDef
    queue_url: str
    queue_arn: str
    invocations: int = 0
    deleted: int = 0
    failed: int = 0  # messages left in the queue after an invocation (retried, then dead-lettered by moto)
    errors: list[str] = field(default_factory=list)  # the latest function errors, newest last (at most 20)


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


def failed_message_ids(records: list[dict[str, Any]], response: Any, *, report_failures: bool) -> set[str]:
    """The messages of the batch that stay in the queue after an invocation that returned ``response``."""
    failures = response.get("batchItemFailures") if report_failures and isinstance(response, dict) else None
    ids = {record["messageId"] for record in records}
    named = {str(failure.get("itemIdentifier")) if isinstance(failure, dict) else "" for failure in failures or []}
    return named if named <= ids else ids


class QueuePoller(BackgroundLoop):
    """Polls every mapping's queue in one background thread; ``stop()`` ends it after the batch in hand."""

    def __init__(
        self,
        mappings: list[QueueMappingState],
        invoke: Invoke,
        sqs_client: Any,
        *,
        poll_seconds: float = 0.5,
        retry_seconds: int = 2,
    ) -> None:
        self.mappings = mappings
        self._invoke = invoke
        self._sqs = sqs_client
        self._poll_seconds = poll_seconds
        self._retry_seconds = retry_seconds
        super().__init__("local-queue-poller")

    @classmethod
    def for_template(
        cls, template: AppTemplate, resources: LocalResources, invoke: Invoke, **options: Any
    ) -> QueuePoller:
        """A consumer for every SQS event source mapping of the template (not started)."""
        from shared.aws import client

        mappings = [
            QueueMappingState(mapping, resources.physical_ids[mapping.queue_id], resources.queue_arns[mapping.queue_id])
            for mapping in template.sqs_event_source_mappings
        ]
        return cls(mappings, invoke, client("sqs"), **options)

    def start(self) -> None:
        if self.mappings:
            super().start()

    def _run(self) -> None:
        while not self._stop.is_set():
            busy = False
            for state in self.mappings:
                try:
                    busy = (not self._stop.is_set() and self.poll_once(state) > 0) or busy
                except Exception:
                    logger.exception("queue poller: %s failed", state.mapping.logical_id)
            if not busy:
                self._stop.wait(self._poll_seconds)

    def poll_once(self, state: QueueMappingState) -> int:
        """Receive one batch and hand it to the function; returns how many messages it held (0: none waiting)."""
        messages = self._sqs.receive_message(
            QueueUrl=state.queue_url,
            MaxNumberOfMessages=max(1, min(10, state.mapping.batch_size)),
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if messages:
            self.process(state, [lambda_sqs_record(message, state.queue_arn) for message in messages])
        return len(messages)

    def process(self, state: QueueMappingState, records: list[dict[str, Any]]) -> set[str]:
        """Invoke the function with ``records``, delete what succeeded; returns the ids left in the queue."""
        state.invocations += 1
        try:
            response = self._invoke(state.mapping.function_id, {"Records": records})
            failed = failed_message_ids(records, response, report_failures=state.mapping.report_batch_item_failures)
        except Exception as error:  # a function error: the whole batch is retried
            state.errors = [*state.errors[-19:], f"{type(error).__name__}: {error}"]
            failed = {record["messageId"] for record in records}
        if failed:
            logger.warning(
                "%s: %d of %d message(s) failed; they stay in the queue",
                state.mapping.function_id,
                len(failed),
                len(records),
            )
        if done := [record for record in records if record["messageId"] not in failed]:
            entries = [
                {"Id": str(index), "ReceiptHandle": record["receiptHandle"]} for index, record in enumerate(done)
            ]
            self._sqs.delete_message_batch(QueueUrl=state.queue_url, Entries=entries)
            state.deleted += len(done)
        for record in records:
            if record["messageId"] in failed:
                try:
                    self._sqs.change_message_visibility(
                        QueueUrl=state.queue_url,
                        ReceiptHandle=record["receiptHandle"],
                        VisibilityTimeout=self._retry_seconds,
                    )
                except Exception:  # the queue's own visibility timeout then applies
                    logger.exception("queue poller: could not shorten the visibility of %s", record["messageId"])
        state.failed += len(failed)
        return failed


def queue_depth(sqs_client: Any, queue_url: str) -> int:
    """Messages in a queue, visible or in flight (e.g. the poll dead-letter queue's)."""
    attributes = sqs_client.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])
