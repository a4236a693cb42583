"""The local scheduler: rates, scale, a cron refused by name, a clean stop."""

from __future__ import annotations

from typing import Any

import pytest

from infra.local.schedules import ScheduleError, Scheduler, rate_seconds
from infra.local.template import ScheduleDef


def test_rates_and_a_cron_is_refused_by_name() -> None:
    assert rate_seconds("rate(5 minutes)") == 300
    assert rate_seconds("rate(1 hour)") == 3600
    with pytest.raises(ScheduleError, match="only rate"):
        rate_seconds("cron(0 12 * * ? *)")


def test_scheduler_runs_each_function_on_its_scaled_rate() -> None:
    # Given a 5-minute schedule at scale 0.1 and a fake clock
    now = [1000.0]
    runs: list[tuple[str, Any]] = []
    schedule = ScheduleDef("Rule", "rate(5 minutes)", "Reconciler")
    scheduler = Scheduler([(schedule, "reconciler")], lambda f, e: runs.append((f, e)), scale=0.1, clock=lambda: now[0])

    # When 29 s, then 30 s, then 60 s have passed
    now[0] += 29
    scheduler.run_due()
    first = len(runs)
    now[0] += 1
    scheduler.run_due()
    now[0] += 30
    scheduler.run_due()

    # Then it ran every 30 s (none before), with EventBridge's scheduled event
    assert first == 0
    assert [function for function, _ in runs] == ["Reconciler", "Reconciler"]
    assert runs[0][1]["detail-type"] == "Scheduled Event"
    assert scheduler.describe() == ["reconciler every 30 s (x0.1)"]


def test_scheduler_thread_stops() -> None:
    scheduler = Scheduler([(ScheduleDef("R", "rate(1 minute)", "F"), "f")], lambda f, e: None)
    scheduler.start()
    scheduler.stop(timeout=5)
    assert not scheduler.alive
