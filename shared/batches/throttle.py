"""The partner's requeue throttle: at most ``requeue.max_jobs_per_second`` jobs per second across its batches.

One item per partner (``schema.throttle_key``) holds ``next_free_at``: the moment (epoch seconds) from which the
partner's requeue time is free again. A page that requeued ``n`` jobs reserves ``n / rate`` seconds starting at
the later of when it began working and ``next_free_at``, and the state machine waits until that reservation ends
before the next page: time spent working counts, so the rate achieved is the setting. A page that finds the
partner's time reserved further ahead than ``EARLY_SECONDS`` waits for it before working (another batch of the
partner holds it). The reservation is one conditional write on the value read; a lost race reads the winner's
value from the refusal and tries again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from shared import schema
from shared.dynamo import TableRepository, from_item, serialize, to_item

THROTTLE_NAME = "requeue"
NEXT_FREE = "next_free_at"
# Step Functions waits whole seconds: a page may start up to this much before its partner's time is free, and
# the reservations stay back to back, so the rounding never adds up to a lower rate.
EARLY_SECONDS = 1.0
_RACE_ATTEMPTS = 10


@dataclass(frozen=True)
class Reservation:
    start: float
    end: float


def wait_seconds(until: float, now: float) -> int:
    """Whole seconds to wait from ``now`` so as not to start more than ``EARLY_SECONDS`` before ``until``."""
    return max(0, math.floor(until - now))


def must_wait(next_free_at: float | None, now: float) -> bool:
    """True when the partner's requeue time is reserved beyond ``EARLY_SECONDS`` from ``now``."""
    return next_free_at is not None and next_free_at - now > EARLY_SECONDS


class RequeueThrottle(TableRepository):
    """Reservations of a partner's requeue time in the table; ``clock`` is epoch seconds (a fake in tests)."""

    def __init__(self, table_name: str, dynamodb: Any, clock: Callable[[], float] = time.time) -> None:
        super().__init__(table_name, dynamodb)
        self.clock = clock

    @staticmethod
    def key(partner_id: str) -> dict[str, str]:
        return schema.throttle_key(THROTTLE_NAME, partner_id)

    @staticmethod
    def next_free_of(item: dict[str, Any] | None) -> float | None:
        """``next_free_at`` of a throttle item in plain form (``None``: never reserved)."""
        value = (item or {}).get(NEXT_FREE)
        return None if value is None else float(value)

    def next_free_at(self, partner_id: str) -> float | None:
        item = self._db.get_item(TableName=self._table, Key=to_item(self.key(partner_id)), ConsistentRead=True)
        return self.next_free_of(from_item(item["Item"]) if "Item" in item else None)

    def reserve(
        self, partner_id: str, jobs: int, rate: int, *, started_at: float, known: float | None = None
    ) -> Reservation:
        """Reserve ``jobs / rate`` seconds of the partner's time, from ``started_at`` or when it is free.

        ``known``: the ``next_free_at`` the caller read (saves a read when nobody reserved since).
        """
        if rate < 1:
            raise ValueError("rate must be at least 1 job per second")
        current = known
        for _ in range(_RACE_ATTEMPTS):
            start = max(started_at, current) if current is not None else started_at
            end = start + jobs / rate
            values: dict[str, Any] = {":end": serialize(Decimal(f"{end:.3f}"))}
            if current is None:
                condition = f"attribute_not_exists({NEXT_FREE})"
            else:
                condition = f"{NEXT_FREE} = :read"
                values[":read"] = serialize(Decimal(f"{current:.3f}"))
            try:
                self._db.update_item(
                    TableName=self._table,
                    Key=to_item(self.key(partner_id)),
                    UpdateExpression=f"SET {NEXT_FREE} = :end",
                    ConditionExpression=condition,
                    ExpressionAttributeValues=values,
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                old = error.response.get("Item")
                current = self.next_free_of(from_item(old) if old else None)
                continue
            return Reservation(start=start, end=end)
        raise RuntimeError(f"could not reserve requeue time for partner {partner_id}: too many concurrent reservations")
