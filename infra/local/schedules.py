"""EventBridge schedules, run locally: each scheduled function is invoked in-process on its rate or cron.

moto stores scheduled rules but never fires them, so the local runtime keeps its own clock: one background
thread that invokes every enabled schedule's target with a ``Scheduled Event``, first one period after start
(as a new rule does), then on every period. ``scale`` shortens (or stretches) the periods for a demo, e.g.
``LOCAL_SCHEDULE_SCALE=0.1`` runs a 5-minute schedule every 30 seconds.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from infra.local.loop import BackgroundLoop
from infra.local.template import ACCOUNT_ID, REGION, ScheduleDef
from infra.naming import DEFAULT_STACK_NAME

logger = logging.getLogger("infra.local.schedules")

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_CRON_HORIZON_MINUTES = 366 * 24 * 60  # a cron that never fires within a year is treated as never


class ScheduleError(ValueError):
    """A schedule expression the local scheduler cannot run."""


def rate_seconds(expression: str) -> int | None:
    """The period of a ``rate(...)`` expression in seconds; None for a cron expression."""
    match = _RATE.match(expression.strip())
    if match is None:
        if _CRON.match(expression.strip()):
            return None
        raise ScheduleError(f"not a schedule expression: {expression!r}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


def _cron_field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int] | None:
    """The values one cron field allows; None for ``*``/``?`` (any)."""
    if text in ("*", "?"):
        return None
    allowed: set[int] = set()
    for item in text.split(","):
        part, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if part in ("*", ""):
            start, end = low, high
        elif "-" in part:
            first, last = part.split("-", 1)
            start, end = _cron_value(first, names), _cron_value(last, names)
        else:
            start = _cron_value(part, names)
            end = high if "/" in text else start
        allowed.update(range(start, end + 1, step))
    return allowed


def _cron_value(text: str, names: dict[str, int] | None) -> int:
    if names and text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise ScheduleError(f"cron field value {text!r} is not served locally (L, W and # are not)")
    return int(text)


_MONTHS = {
    name: index + 1
    for index, name in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"))
}
_WEEKDAYS = {name: index + 1 for index, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}


def next_cron(expression: str, after: datetime) -> datetime | None:
    """The first minute after ``after`` (UTC) that an EventBridge ``cron(min hour dom month dow year)`` matches."""
    match = _CRON.match(expression.strip())
    if match is None:
        raise ScheduleError(f"not a cron expression: {expression!r}")
    fields = match.group(1).split()
    if len(fields) != 6:
        raise ScheduleError(f"cron needs six fields: {expression!r}")
    minutes = _cron_field(fields[0], 0, 59)
    hours = _cron_field(fields[1], 0, 23)
    days = _cron_field(fields[2], 1, 31)
    months = _cron_field(fields[3], 1, 12, _MONTHS)
    weekdays = _cron_field(fields[4], 1, 7, _WEEKDAYS)  # 1 = Sunday, as EventBridge counts
    years = _cron_field(fields[5], 1970, 2199)
    moment = after.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(_CRON_HORIZON_MINUTES):
        if (
            (months is None or moment.month in months)
            and (days is None or moment.day in days)
            and (weekdays is None or (moment.isoweekday() % 7) + 1 in weekdays)
            and (years is None or moment.year in years)
            and (hours is None or moment.hour in hours)
            and (minutes is None or moment.minute in minutes)
        ):
            return moment
        moment += timedelta(minutes=1)
    return None


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
    period_seconds: float | None  # None: cron
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
        self._scale = scale
        self._clock = clock
        now = clock()
        self.entries = []
        for schedule, function_name in schedules:
            if not schedule.enabled:
                continue
            period = rate_seconds(schedule.expression)
            entry = ScheduledFunction(schedule, function_name, now, period * scale if period is not None else None)
            entry.next_run = now if schedule.function_id in run_at_start else self._next_run(entry, now)
            self.entries.append(entry)
        self._running = threading.Lock()  # one run at a time, from the thread or run_now()
        super().__init__("local-scheduler")

    @property
    def scale(self) -> float:
        return self._scale

    def describe(self) -> list[str]:
        """One line per schedule, for the startup banner."""
        lines = []
        for entry in self.entries:
            if entry.period_seconds is None:
                every = entry.schedule.expression + (f" (x{self._scale:g})" if self._scale != 1 else "")
            else:
                every = f"every {_duration(entry.period_seconds)}"
                if self._scale != 1:
                    every += f" ({entry.schedule.expression} x{self._scale:g})"
            lines.append(f"{entry.function_name} {every}")
        return lines

    def _next_run(self, entry: ScheduledFunction, now: float) -> float:
        if entry.period_seconds is not None:
            return now + entry.period_seconds
        wall = datetime.now(UTC)
        upcoming = next_cron(entry.schedule.expression, wall)
        if upcoming is None:
            return float("inf")
        return now + (upcoming - wall).total_seconds() * self._scale

    def run_due(self) -> int:
        """Invoke every schedule whose time has come; returns how many ran."""
        ran = 0
        for entry in self.entries:
            now = self._clock()
            if entry.next_run > now or self._stop.is_set():
                continue
            entry.next_run = self._next_run(entry, now)
            self._run_entry(entry)
            ran += 1
        return ran

    def run_now(self, function_id: str) -> Any:
        """Invoke the schedules of one function at once (in this thread), as if their time had come; their
        next runs stay as planned. Returns the last run's result; raises when there is no such schedule."""
        chosen = [entry for entry in self.entries if entry.schedule.function_id == function_id]
        if not chosen:
            raise ScheduleError(f"no enabled schedule targets {function_id}")
        return [self._run_entry(entry) for entry in chosen][-1]

    def _run_entry(self, entry: ScheduledFunction) -> Any:
        with self._running:
            entry.runs += 1
            try:
                event = scheduled_event(entry.schedule, self._stack_name, datetime.now(UTC))
                result = self._invoke(entry.schedule.function_id, event)
            except Exception as error:  # a failed run is logged; the schedule goes on
                entry.failures += 1
                logger.warning("schedule: %s failed (%s: %s)", entry.function_name, type(error).__name__, error)
                return None
            logger.info("schedule: %s ran -> %s", entry.function_name, _short(result))
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


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 120 else text[:117] + "..."
