"""A workspace's CallRail poll through in-memory ports: which calls become jobs, and where the next poll resumes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from shared.callrail.client import CallRailRateLimited, CallRailUnavailable, CallRecord, InvalidCall
from shared.config.hierarchy import ConfigLevel
from shared.ingest.jobs import IngestOutcome
from shared.ingest.poller import PollRequest, WorkspaceNotPollable, WorkspacePolls
from shared.jobs.models import JobStatus
from shared.tenants.registry import Workspace
from tests.unit.fakes import FakeCallJobs, FakeConfig, FakeCursors, FakeWorkspaces, utc

NOW = utc(2026, 6, 1, 12, 0)
WORKSPACE = Workspace(workspace_id="w1", organization_id="o1", partner_id="p1", name="Shop", created_at="2026-01-01")
CALLRAIL = {
    "enabled": True,
    "account_id": "ACC1",
    "api_key_parameter": "/gensail/test/secrets/callrail/acc1",
}


def call(call_id: str, minutes_ago: int, duration: int | None = 60) -> CallRecord:
    return CallRecord(id=call_id, start_time=NOW - timedelta(minutes=minutes_ago), duration=duration)


class FakeCallRail:
    """A CallRail account: its calls, and optionally an error after some of them have been read."""

    def __init__(self, *records: CallRecord | InvalidCall, then: Exception | None = None) -> None:
        self.records = list(records)
        self.then = then
        self.windows: list[tuple[datetime, datetime]] = []

    def iter_calls(
        self, account_id: str, start: datetime, end: datetime, *, company_id: str | None = None
    ) -> Iterator[CallRecord | InvalidCall]:
        self.windows.append((start, end))
        for record in self.records:
            if isinstance(record, InvalidCall) or start <= record.start_time <= end:
                yield record
        if self.then is not None:
            raise self.then


class Poller:
    def __init__(self, callrail: FakeCallRail, **settings: object) -> None:
        self.config = FakeConfig()
        self.config.set(ConfigLevel.WORKSPACE, "w1", {"integrations": {"callrail": {**CALLRAIL, **settings}}})
        self.cursors = FakeCursors()
        self.jobs = FakeCallJobs()
        self.callrail = callrail
        self.polls = WorkspacePolls(
            FakeWorkspaces(WORKSPACE),
            self.config,
            self.cursors,
            self.jobs,
            client_for=lambda integration: self.callrail,
            now=lambda: NOW,
        )


def test_a_first_poll_reads_the_lookback_stores_each_call_once_and_resumes_from_the_window_end() -> None:
    poller = Poller(FakeCallRail(call("C1", 30), call("C2", 10)))

    first = poller.polls.poll(PollRequest(workspace_id="w1", window_end=NOW))
    second = poller.polls.poll(PollRequest(workspace_id="w1", window_end=NOW))

    assert poller.callrail.windows[0] == (NOW - timedelta(hours=24), NOW)
    assert first.outcomes == {IngestOutcome.QUEUED: 2}
    # The next poll re-reads the 15 minutes' overlap before the cursor, and stores nothing twice
    assert poller.callrail.windows[1][0] == NOW - timedelta(minutes=15)
    assert second.outcomes == {IngestOutcome.DUPLICATE: 1}
    assert sorted(str(job.source_id) for job in poller.jobs.jobs.values()) == ["C1", "C2"]
    assert poller.cursors.read("w1") == NOW


def test_calls_past_the_workspace_daily_cap_are_stored_skipped_for_rate_limit() -> None:
    poller = Poller(FakeCallRail(call("C1", 30), call("C2", 20), call("C3", 10)), max_calls_per_workspace=2)

    report = poller.polls.poll(PollRequest(workspace_id="w1", window_end=NOW))

    assert report.outcomes == {IngestOutcome.QUEUED: 2, IngestOutcome.RATE_LIMITED: 1}
    assert poller.jobs.jobs["C3"].status is JobStatus.SKIPPED
    assert poller.jobs.jobs["C3"].skipped_reason == "rate_limit"


def test_a_429_mid_window_ends_the_poll_quietly_and_the_next_resumes_after_the_last_stored_call() -> None:
    poller = Poller(FakeCallRail(call("C1", 30), then=CallRailRateLimited("slow down")))

    report = poller.polls.poll(PollRequest(workspace_id="w1", window_end=NOW))

    assert report.rate_limited is True
    assert poller.cursors.read("w1") == NOW - timedelta(minutes=30)


def test_an_outage_mid_window_is_raised_for_a_retry_with_the_cursor_at_the_last_stored_call() -> None:
    poller = Poller(FakeCallRail(call("C1", 30), then=CallRailUnavailable("503")))

    with pytest.raises(CallRailUnavailable):
        poller.polls.poll(PollRequest(workspace_id="w1", window_end=NOW))

    assert "C1" in poller.jobs.jobs
    assert poller.cursors.read("w1") == NOW - timedelta(minutes=30)


def test_a_call_still_in_progress_is_left_for_a_later_poll_and_holds_the_cursor_before_it() -> None:
    poller = Poller(FakeCallRail(call("C1", 50), call("LIVE", 40, duration=None), call("C3", 10)))

    report = poller.polls.poll(PollRequest(workspace_id="w1", window_end=NOW))

    assert report.in_progress == 1
    assert "LIVE" not in poller.jobs.jobs
    assert poller.cursors.read("w1") == NOW - timedelta(minutes=40)


def test_invalid_records_are_reported_and_do_not_stop_the_poll() -> None:
    poller = Poller(FakeCallRail(InvalidCall(raw={"id": "BAD"}, error="start_time missing"), call("C1", 10)))

    report = poller.polls.poll(PollRequest(workspace_id="w1", window_end=NOW))

    assert [record.call_id for record in report.invalid] == ["BAD"]
    assert report.outcomes == {IngestOutcome.QUEUED: 1}


@pytest.mark.parametrize(
    ("workspace_id", "settings"),
    [("gone", {}), ("w1", {"enabled": False}), ("w1", {"account_id": None})],
)
def test_a_workspace_gone_or_not_set_up_for_callrail_is_not_polled(
    workspace_id: str, settings: dict[str, object]
) -> None:
    poller = Poller(FakeCallRail(call("C1", 10)), **settings)

    with pytest.raises(WorkspaceNotPollable):
        poller.polls.poll(PollRequest(workspace_id=workspace_id, window_end=NOW))

    assert poller.jobs.jobs == {}
    assert poller.callrail.windows == []
