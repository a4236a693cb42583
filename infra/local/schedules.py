"""EventBridge schedules, run locally: each scheduled function is invoked in-process on its rate.

moto stores scheduled rules but never fires them, so the local runtime keeps its own clock: one background
thread that invokes every enabled schedule's target with a ``Scheduled Event``, first one period after start
(as a new rule does), then on every period. ``scale`` shortens (or stretches) the periods for a demo, e.g.
``LOCAL_SCHEDULE_SCALE=0.1`` runs a 5-minute schedule every 30 seconds. The stack schedules by rate only: a
``cron(...)`` expression is refused by name.
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
from typing import Any

from infra.local.loop import BackgroundLoop
from infra.local.template import ACCOUNT_ID, REGION, ScheduleDef
from infra.naming import DEFAULT_STACK_NAME

logger = logging.getLogger("infra.local.schedules")

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


class ScheduleError(ValueError):
    """A schedule expression the local scheduler cannot run."""


def rate_seconds(expression: str) -> int:
    """The period of a ``rate(...)`` expression in seconds."""
    match = _RATE.match(expression.strip())
    if match is None:
        raise ScheduleError(f"only rate(...) schedules are served locally, not {expression!r}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


def scheduled_event(schedule: ScheduleDef, stack_name: str, now: datetime) -> Any:
    """What EventBridge passes to a scheduled target: the target's constant Input, or a ``Scheduled Event``."""
    if isinstance(schedule.input, str):
        return json.loads(schedule.input)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{stack_name}-{schedule.logical_id}"],
        "detail": {},
    }


@dataclass
class ScheduledFunction:
    schedule: ScheduleDef
    function_name: str
    next_run: float  # time.monotonic() deadline
    period_seconds: float
    runs: int = 0  # started
    failures: int = 0
    completed: int = 0  # ran without an error


class Scheduler(BackgroundLoop):
    """Runs every enabled schedule in one background thread; ``stop()`` ends it."""

    def __init__(
        self,
        schedules: list[tuple[ScheduleDef, str]],
        invoke: Callable[[str, Any], Any],
        *,
        stack_name: str = DEFAULT_STACK_NAME,
        scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        run_at_start: Collection[str] = (),
    ) -> None:
        """``schedules`` pairs each schedule with its function's local name; ``invoke(function_id, event)``.

        The schedules of the functions in ``run_at_start`` (logical ids) first run as soon as the thread starts,
        then on their period (e.g. the poll dispatcher, so a fresh runtime ingests at once).
        """
        if scale <= 0:
            raise ScheduleError(f"schedule scale must be positive, not {scale}")
        self._invoke = invoke
        self._stack_name = stack_name
        self.scale = scale
        self._clock = clock
        now = clock()
        self.entries = []
        for schedule, function_name in schedules:
            if schedule.enabled:
                period = rate_seconds(schedule.expression) * scale
                first = now if schedule.function_id in run_at_start else now + period
                self.entries.append(ScheduledFunction(schedule, function_name, first, period))
        super().__init__("local-scheduler")

    def describe(self) -> list[str]:
        """One line per schedule, for the startup banner."""
        lines = []
        for entry in self.entries:
            every = f"every {_duration(entry.period_seconds)}"
            if self.scale != 1:
                every += f" ({entry.schedule.expression} x{self.scale:g})"
            lines.append(f"{entry.function_name} {every}")
        return lines

    def run_due(self) -> int:
        """Invoke every schedule whose time has come; returns how many ran."""
        ran = 0
        for entry in self.entries:
            now = self._clock()
            if entry.next_run > now or self._stop.is_set():
                continue
            entry.next_run = now + entry.period_seconds
            self._run_entry(entry)
            ran += 1
        return ran

    def run_now(self, function_id: str) -> Any:
        """Run the schedule of one function at once, in this thread (its next run stays as planned)."""
        return self._run_entry(next(entry for entry in self.entries if entry.schedule.function_id == function_id))

    def _run_entry(self, entry: ScheduledFunction) -> Any:
        entry.runs += 1
        try:
            event = scheduled_event(entry.schedule, self._stack_name, datetime.now(UTC))
            result = self._invoke(entry.schedule.function_id, event)
        except Exception as error:  # a failed run is logged; the schedule goes on
            entry.failures += 1
            logger.warning("schedule: %s failed (%s: %s)", entry.function_name, type(error).__name__, error)
            return None
        text = json.dumps(result, default=str)
        logger.info("schedule: %s ran -> %s", entry.function_name, text if len(text) <= 120 else text[:117] + "...")
        entry.completed += 1
        return result

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_due()
            upcoming = min((entry.next_run for entry in self.entries), default=float("inf"))
            self._stop.wait(max(0.05, min(1.0, upcoming - self._clock())))


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
