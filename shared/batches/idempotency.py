"""``Idempotency-Key`` for batch creation, with Powertools' idempotency utility on the single table.

A record is keyed on the API key's id and the header's value (so two API keys may use the same value) and holds a
hash of the request body: the same key with the same body answers the batch it created; with another body it is
refused (``IdempotencyKeyReused``). A request that fails (403, 409) stores nothing, so it can be retried. While the
first request is still running, a concurrent retry waits for it (bounded), then answers the same batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from shared import schema
from shared.access import Caller
from shared.errors import IdempotencyKeyInUse, IdempotencyKeyReused

# Records live a day (what Stripe keeps), then expire through the table's TTL attribute.
IDEMPOTENCY_SECONDS = 24 * 3600
# All records share one partition (Powertools' composite-key layout); batch creations are rare.
IDEMPOTENCY_PARTITION = schema.idempotency_partition("requeue-batches")
_WAIT_SECONDS = 5.0
_POLL_SECONDS = 0.1


class IdempotentCreates:
    """Runs a creation at most once per (API key, ``Idempotency-Key``) and answers its result to retries."""

    def __init__(self, table_name: str, dynamodb: Any, wait_seconds: float = _WAIT_SECONDS) -> None:
        persistence = DynamoDBPersistenceLayer(
            table_name=table_name,
            key_attr=schema.PARTITION_KEY,
            sort_key_attr=schema.SORT_KEY,
            static_pk_value=IDEMPOTENCY_PARTITION,
            expiry_attr=schema.TTL_ATTRIBUTE,
            # Not Powertools' default names: ``status`` is a job attribute that the indexes and stream filters read.
            in_progress_expiry_attr="idempotency_in_progress_until",
            status_attr="idempotency_status",
            data_attr="idempotency_result",
            validation_key_attr="idempotency_request_hash",
            boto3_client=dynamodb,
        )
        self._config = IdempotencyConfig(
            event_key_jmespath="[key_id, idempotency_key]",
            payload_validation_jmespath="request",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=IDEMPOTENCY_SECONDS,
            hash_function="sha256",
        )
        self._wait_seconds = wait_seconds

        @idempotent_function(  # type: ignore[untyped-decorator]  # Powertools leaves it unannotated
            data_keyword_argument="call",
            persistence_store=persistence,
            config=self._config,
            key_prefix="requeue-batch",
        )
        def run(call: dict[str, Any], create: Callable[[], dict[str, Any]]) -> dict[str, Any]:
            return create()

        self._run = run

    def once(
        self,
        caller: Caller,
        idempotency_key: str,
        request: dict[str, Any],
        create: Callable[[], dict[str, Any]],
        lambda_context: Any = None,
    ) -> dict[str, Any]:
        """``create()``'s result, from the first request with this key (running ``create`` only for that one).

        ``lambda_context`` (the invocation's) bounds how long a crashed first request blocks its retries.
        """
        if lambda_context is not None:
            self._config.register_lambda_context(lambda_context)
        call = {"key_id": caller.key_id, "idempotency_key": idempotency_key, "request": request}
        deadline = time.monotonic() + self._wait_seconds
        while True:
            try:
                result: dict[str, Any] = self._run(call=call, create=create)
                return result
            except IdempotencyValidationError:
                raise IdempotencyKeyReused(
                    "This Idempotency-Key was already used with another request body; use a new key."
                ) from None
            except IdempotencyAlreadyInProgressError:
                if time.monotonic() >= deadline:
                    raise IdempotencyKeyInUse(
                        "A request with this Idempotency-Key is still being processed; retry shortly."
                    ) from None
                time.sleep(_POLL_SECONDS)
