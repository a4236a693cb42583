"""EventBridge schedules, run locally (moto stores rules but never fires them): one thread invokes each target
with a ``Scheduled Event`` one period after start (as a new rule does), then every period. ``scale`` shortens the
periods for a demo (``LOCAL_SCHEDULE_SCALE=0.1``: a 5-minute schedule every 30 s). Rates only: the stack has no
``cron(...)``, which is refused by name.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from infra.local.loop import BackgroundLoop, Invoke
from infra.local.template import ACCOUNT_ID, REGION, ScheduleDef, TemplateError

if TYPE_CHECKING:
    from infra.local.backend import LocalResources
    from infra.local.functions import FunctionHost
    from infra.local.template import AppTemplate

logger = logging.getLogger("infra.local.schedules")

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


class ScheduleError(TemplateError):
    """A schedule expression the local scheduler cannot run."""


def rate_seconds(expression: str) -> int:
    match = _RATE.match(expression.strip())
    if match is None:
        raise ScheduleError(f"only rate(...) schedules are served locally, not {expression!r}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


@dataclass
class ScheduledFunction:
    schedule: ScheduleDef
    function_name: str
    next_run: float  # time.monotonic() deadline
    period_seconds: float


class Scheduler(BackgroundLoop):
    def __init__(
        self,
        schedules: list[tuple[ScheduleDef, str]],
        invoke: Invoke,
        *,
        scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        run_at_start: Collection[str] = (),
    ) -> None:
        """``schedules``: each with its function's local name; those of ``run_at_start`` (logical ids) run at once."""
        if scale <= 0:
            raise ScheduleError(f"schedule scale must be positive, not {scale}")
        self._invoke = invoke
        self.scale = scale
        self._clock = clock
        self.entries = []
        for schedule, function_name in schedules:
            period = rate_seconds(schedule.expression) * scale
            first = clock() + (0 if schedule.function_id in run_at_start else period)
            self.entries.append(ScheduledFunction(schedule, function_name, first, period))
        super().__init__("local-scheduler")

    @classmethod
    def for_template(
        cls, template: AppTemplate, resources: LocalResources, functions: FunctionHost, *, scale: float
    ) -> Scheduler:
        """The template's schedules; those feeding a consumed queue (the poll dispatcher) run at once, so a
        developer sees ingested jobs without waiting for the first period."""
        consumed = {resources.physical_ids[mapping.source_id] for mapping in template.sqs_event_source_mappings}
        feeders = {
            schedule.function_id
            for schedule in template.schedules
            if consumed & set(functions.environment(schedule.function_id).values())
        }
        schedules = [(schedule, resources.function_names[schedule.function_id]) for schedule in template.schedules]
        return cls(schedules, functions.invoke, scale=scale, run_at_start=feeders)

    def describe(self) -> list[str]:
        scaled = f" (x{self.scale:g})" if self.scale != 1 else ""
        return [f"{entry.function_name} every {entry.period_seconds:g} s{scaled}" for entry in self.entries]

    def run_due(self) -> int:
        """Invoke every schedule whose time has come; returns how many ran."""
        ran = 0
        for entry in self.entries:
            if entry.next_run <= self._clock() and not self._stop.is_set():
                entry.next_run = self._clock() + entry.period_seconds
                self._run_entry(entry)
                ran += 1
        return ran

    def run_now(self, function_id: str) -> Any:
        """Run the schedule of one function at once, in this thread (its next run stays as planned)."""
        return self._run_entry(next(entry for entry in self.entries if entry.schedule.function_id == function_id))

    def _run_entry(self, entry: ScheduledFunction) -> Any:
        try:
            result = self._invoke(entry.schedule.function_id, _scheduled_event(entry.schedule))
        except Exception as error:  # a failed run is logged; the schedule goes on
            logger.warning("schedule: %s failed (%s: %s)", entry.function_name, type(error).__name__, error)
            return None
        logger.info("schedule: %s ran -> %.120s", entry.function_name, json.dumps(result, default=str))
        return result

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_due()
            upcoming = min((entry.next_run for entry in self.entries), default=float("inf"))
            self._stop.wait(max(0.05, min(1.0, upcoming - self._clock())))


def _scheduled_event(schedule: ScheduleDef) -> dict[str, Any]:
    """What EventBridge passes to a scheduled target without a constant input."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{schedule.logical_id}"],
        "detail": {},
    }
