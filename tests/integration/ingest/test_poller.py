"""Polling one workspace against the CallRail sample server: replays, the cursor, 429s and invalid records."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from shared.aws import client
from shared.callrail.client import CallRailUnavailable
from shared.clock import parse_timestamp
from shared.dynamo import from_item
from shared.ingest.jobs import IngestOutcome
from shared.ingest.poller import WorkspaceNotPollable, poll_workspace
from tests.conftest import Tenants
from tests.integration.ingest.conftest import (
    ListClient,
    connect_account,
    effective,
    items_with_prefix,
    make_calls,
    sample_client,
    stores,
)
from tests.support.callrail_faults import FaultyCallRailServer as CallRailSampleServer

ACCOUNT = "ACC1"


def stored_call_ids() -> list[str]:
    return sorted(str(from_item(item)["source_id"]) for item in items_with_prefix("JOB#"))


def test_three_replays_of_a_window_store_each_call_once(tenants: Tenants, callrail: CallRailSampleServer) -> None:
    # Given 12 calls half an hour ago, and polls that re-read the last hour
    workspace = tenants.workspace(0)
    connect_account(callrail, workspace, ACCOUNT, write_config=False)
    now = datetime.now(UTC)
    calls = callrail.add_calls(ACCOUNT, 12, at=now - timedelta(minutes=30))
    cursors, store = stores()
    client = sample_client(callrail, ACCOUNT, per_page=5)

    config = effective(ACCOUNT, overlap_minutes=60)

    # When the same window is polled three times
    reports = [
        poll_workspace(workspace, config, client, cursors, store, window_end=now, now=lambda: now) for _ in range(3)
    ]

    # Then every call has exactly one job and one dedupe item; the replays found them all
    assert stored_call_ids() == sorted(call["id"] for call in calls)
    assert len(items_with_prefix("SOURCE#callrail#")) == 12
    assert reports[0].outcomes == {IngestOutcome.QUEUED: 12}
    assert [report.outcomes for report in reports[1:]] == [{IngestOutcome.DUPLICATE: 12}] * 2
    assert all(report.completed for report in reports)
    assert cursors.read(workspace.workspace_id) == now.replace(microsecond=0)


def test_the_cursor_never_passes_an_unstored_call(tenants: Tenants, callrail: CallRailSampleServer) -> None:
    # Given 12 calls, served 5 per page, and a 429 as soon as the first page is read
    workspace = tenants.workspace(0)
    connect_account(callrail, workspace, ACCOUNT, write_config=False)
    now = datetime.now(UTC)
    calls = callrail.add_calls(ACCOUNT, 12, at=now - timedelta(minutes=30))
    cursors, store = stores()

    def rate_limit_after_first_page(index: int) -> None:
        if index == 1:
            callrail.fail_next(ACCOUNT, status=429)

    limited = sample_client(callrail, ACCOUNT, per_page=5, after_record=rate_limit_after_first_page)

    # When the workspace is polled
    first = poll_workspace(workspace, effective(ACCOUNT), limited, cursors, store, window_end=now, now=lambda: now)

    # Then the first page is stored, the poll ends quietly, and the cursor stands at the last stored call
    assert first.rate_limited
    assert not first.completed
    assert first.outcomes == {IngestOutcome.QUEUED: 5}
    assert stored_call_ids() == sorted(call["id"] for call in calls[:5])
    assert cursors.read(workspace.workspace_id) == parse_timestamp(calls[4]["start_time"])

    # When the next cycle polls again
    later = now + timedelta(minutes=5)
    second = poll_workspace(
        workspace,
        effective(ACCOUNT),
        sample_client(callrail, ACCOUNT),
        cursors,
        store,
        window_end=later,
        now=lambda: later,
    )

    # Then it resumes from the cursor (re-reading the overlap) and no call is missed or stored twice
    assert second.completed
    assert second.window_start == parse_timestamp(calls[4]["start_time"]) - timedelta(minutes=15)
    assert second.outcomes == {IngestOutcome.DUPLICATE: 5, IngestOutcome.QUEUED: 7}
    assert stored_call_ids() == sorted(call["id"] for call in calls)
    assert cursors.read(workspace.workspace_id) == later.replace(microsecond=0)


def test_an_outage_moves_the_cursor_to_the_last_stored_call_and_is_raised(
    tenants: Tenants, callrail: CallRailSampleServer
) -> None:
    workspace = tenants.workspace(0)
    connect_account(callrail, workspace, ACCOUNT, write_config=False)
    now = datetime.now(UTC)
    calls = callrail.add_calls(ACCOUNT, 8, at=now - timedelta(minutes=30))
    cursors, store = stores()

    def outage_after_first_page(index: int) -> None:
        if index == 1:
            callrail.fail_next(ACCOUNT, status=503, times=3)

    client = sample_client(callrail, ACCOUNT, per_page=5, after_record=outage_after_first_page)

    with pytest.raises(CallRailUnavailable):
        poll_workspace(workspace, effective(ACCOUNT), client, cursors, store, window_end=now, now=lambda: now)

    assert stored_call_ids() == sorted(call["id"] for call in calls[:5])
    assert cursors.read(workspace.workspace_id) == parse_timestamp(calls[4]["start_time"])


def test_an_invalid_record_is_counted_and_the_others_are_ingested(
    tenants: Tenants, callrail: CallRailSampleServer
) -> None:
    workspace = tenants.workspace(0)
    connect_account(callrail, workspace, ACCOUNT, write_config=False)
    now = datetime.now(UTC)
    before = callrail.add_calls(ACCOUNT, 3, at=now - timedelta(minutes=40))
    broken = callrail.add_malformed_call(ACCOUNT, at=now - timedelta(minutes=30))
    after = callrail.add_calls(ACCOUNT, 3, at=now - timedelta(minutes=20))
    cursors, store = stores()

    report = poll_workspace(
        workspace, effective(ACCOUNT), sample_client(callrail, ACCOUNT), cursors, store, window_end=now, now=lambda: now
    )

    assert report.completed
    assert [(invalid.call_id, "duration" in invalid.error) for invalid in report.invalid] == [(broken["id"], True)]
    assert report.outcomes == {IngestOutcome.QUEUED: 6}
    assert stored_call_ids() == sorted(call["id"] for call in before + after)


def test_the_first_poll_reads_the_initial_lookback_and_stop_when_ends_it_early(
    tenants: Tenants, callrail: CallRailSampleServer
) -> None:
    # Given calls 30 and 3 hours old, and a workspace that looks back 2 hours on its first poll
    workspace = tenants.workspace(0)
    connect_account(callrail, workspace, ACCOUNT, write_config=False)
    now = datetime.now(UTC)
    callrail.add_calls(ACCOUNT, 2, at=now - timedelta(hours=3))
    recent = callrail.add_calls(ACCOUNT, 4, at=now - timedelta(minutes=30))
    cursors, store = stores()
    config = effective(ACCOUNT, initial_lookback_hours=2)

    # When the poll must stop once two calls are stored (the function's time is running out)
    report = poll_workspace(
        workspace,
        config,
        sample_client(callrail, ACCOUNT),
        cursors,
        store,
        window_end=now,
        now=lambda: now,
        stop_when=lambda: len(stored_call_ids()) >= 2,
    )

    # Then only recent calls were read, two were stored, and the cursor stands at the second
    assert report.window_start == now - timedelta(hours=2)
    assert report.stopped_early
    assert not report.completed
    assert stored_call_ids() == sorted(call["id"] for call in recent[:2])
    assert cursors.read(workspace.workspace_id) == parse_timestamp(recent[1]["start_time"])


def test_a_poll_past_its_deadline_fetches_no_further_page(tenants: Tenants, callrail: CallRailSampleServer) -> None:
    # Given 12 calls served 5 per page, and a poll whose time runs out once the first page has been fetched
    workspace = tenants.workspace(0)
    connect_account(callrail, workspace, ACCOUNT, write_config=False)
    now = datetime.now(UTC)
    callrail.add_calls(ACCOUNT, 12, at=now - timedelta(minutes=30))
    cursors, store = stores()

    # When it is polled
    report = poll_workspace(
        workspace,
        effective(ACCOUNT),
        sample_client(callrail, ACCOUNT, per_page=5),
        cursors,
        store,
        window_end=now,
        now=lambda: now,
        stop_when=lambda: callrail.request_count(ACCOUNT) >= 1,
    )

    # Then no page is requested after the deadline (a page may take over a minute), and the calls read but not
    # stored are left for the next poll: the cursor did not move
    assert callrail.request_count(ACCOUNT) == 1
    assert report.stopped_early
    assert not report.completed
    assert stored_call_ids() == []
    assert cursors.read(workspace.workspace_id) is None


def test_an_api_key_outside_the_callrail_keys_path_is_refused(tenants: Tenants, callrail: CallRailSampleServer) -> None:
    # Given a workspace whose api_key_parameter names a webhook signing secret
    cursors, store = stores()
    config = effective(ACCOUNT, api_key_parameter="/gensail/secrets/webhooks/demo")

    # When it is polled, then it is refused with the parameter and the path it must be under, and CallRail is not asked
    with pytest.raises(
        WorkspaceNotPollable, match=r"/gensail/secrets/webhooks/demo is not under /gensail/\{stage\}/secrets/callrail/"
    ):
        poll_workspace(
            tenants.workspace(0),
            config,
            sample_client(callrail, ACCOUNT),
            cursors,
            store,
            window_end=datetime.now(UTC),
        )
    assert callrail.request_count() == 0


def test_the_cursor_only_moves_forward(tenants: Tenants) -> None:
    cursors, _ = stores()
    later, earlier = datetime(2026, 11, 28, 12, tzinfo=UTC), datetime(2026, 11, 28, 11, tzinfo=UTC)

    assert cursors.advance("ws_000", later) is True
    assert cursors.advance("ws_000", earlier) is False
    assert cursors.advance("ws_000", later) is False
    assert cursors.read("ws_000") == later
    assert cursors.read("ws_001") is None


def test_a_poll_over_the_limit_queues_exactly_the_limit_in_one_write_per_call(
    tenants: Tenants, callrail: CallRailSampleServer
) -> None:
    # Given 20 new calls for a workspace that may queue 7 a day
    workspace = tenants.workspace(0)
    connect_account(callrail, workspace, ACCOUNT, write_config=False)
    now = datetime.now(UTC)
    callrail.add_calls(ACCOUNT, 20, at=now - timedelta(minutes=30))
    cursors, store = stores()
    writes: list[str] = []
    for operation in ("TransactWriteItems", "PutItem", "UpdateItem", "BatchWriteItem"):
        client("dynamodb").meta.events.register(
            f"before-call.dynamodb.{operation}", lambda model, **_: writes.append(model.name)
        )

    # When the workspace is polled
    report = poll_workspace(
        workspace,
        effective(ACCOUNT, max_calls_per_workspace=7),
        sample_client(callrail, ACCOUNT),
        cursors,
        store,
        window_end=now,
        now=lambda: now,
    )

    # Then 7 are queued and 13 skipped for the rate limit
    assert report.outcomes == {IngestOutcome.QUEUED: 7, IngestOutcome.RATE_LIMITED: 13}
    statuses = Counter((job["status"], job.get("skipped_reason")) for job in map(from_item, items_with_prefix("JOB#")))
    assert statuses == {("queued", None): 7, ("skipped", "rate_limit"): 13}
    # And each call cost one transaction; only the call that found the limit reached needed a second one
    assert Counter(writes) == {"TransactWriteItems": 21, "UpdateItem": 1}  # the update is the cursor


def test_a_call_still_in_progress_waits_for_a_later_poll_and_holds_the_cursor(tenants: Tenants) -> None:
    # Given three calls of the last hour, the middle one still going on (CallRail lists it without a duration)
    workspace = tenants.workspace(1)
    ended_before, ongoing, ended_after = make_calls(3, prefix="LIVE", minutes_ago=30)
    ongoing_now = ongoing.model_copy(update={"duration": None})
    cursors, store = stores()
    now = datetime.now(UTC).replace(microsecond=0)

    # When the workspace is polled
    first = poll_workspace(
        workspace,
        effective(ACCOUNT),
        ListClient([ended_before, ongoing_now, ended_after]),
        cursors,
        store,
        window_end=now,
        now=lambda: now,
    )

    # Then the ended calls are stored, the ongoing one is not, and the cursor stops at its start
    assert first.outcomes == {IngestOutcome.QUEUED: 2}
    assert first.in_progress == 1
    assert stored_call_ids() == ["LIVE00000", "LIVE00002"]
    assert cursors.read(workspace.workspace_id) == ongoing.start_time

    # When it has ended and the next cycle polls, then it is stored with its duration and the cursor moves on
    later = now + timedelta(minutes=5)
    second = poll_workspace(
        workspace,
        effective(ACCOUNT),
        ListClient([ended_before, ongoing, ended_after]),
        cursors,
        store,
        window_end=later,
        now=lambda: later,
    )
    assert second.outcomes == {IngestOutcome.QUEUED: 1, IngestOutcome.DUPLICATE: 2}
    assert second.in_progress == 0
    assert stored_call_ids() == ["LIVE00000", "LIVE00001", "LIVE00002"]
    assert cursors.read(workspace.workspace_id) == later


def test_a_call_without_a_duration_for_hours_is_stored_as_it_is(tenants: Tenants) -> None:
    workspace = tenants.workspace(2)
    (stale,) = make_calls(1, prefix="STUCK", minutes_ago=5 * 60)
    cursors, store = stores()
    now = datetime.now(UTC).replace(microsecond=0)

    report = poll_workspace(
        workspace,
        effective(ACCOUNT, initial_lookback_hours=6),
        ListClient([stale.model_copy(update={"duration": None})]),
        cursors,
        store,
        window_end=now,
        now=lambda: now,
    )

    assert report.outcomes == {IngestOutcome.QUEUED: 1}
    assert report.in_progress == 0
    assert stored_call_ids() == ["STUCK00000"]
    assert cursors.read(workspace.workspace_id) == now
