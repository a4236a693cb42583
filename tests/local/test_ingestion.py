"""The local runtime ingests CallRail SAMPLE calls: the sample server, the dispatcher at start and on its schedule,
the poll queue consumed by the workspace poller, then the worker and the pipeline, all seen through the API."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.local.runtime import LocalRuntime, start
from infra.sample.accounts import SAMPLE_LOW_DAILY_LIMIT, SETTING_DEFAULT, SETTING_LOW_LIMIT, SETTING_SKIP_ALL
from shared.jobs.models import SkipReason

pytestmark = pytest.mark.slow

DEADLINE_SECONDS = 40
BELOW_MINIMUM = re.compile(r"^duration_below_minimum:(\d+)<(\d+)$")
IN_FLIGHT = {"queued", "transcribing", "analyzing", "publishing"}
PLATFORM_MINIMUM = 30


@pytest.fixture(scope="module")
def runtime(template_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRuntime]:
    """The runtime as ``make run`` starts it, with the CallRail sample server (no arrivals: the counts stay put)."""
    demo_file = tmp_path_factory.mktemp("ingestion") / "demo.json"
    handle = start(port=0, template_path=template_path, demo_file=demo_file, callrail_arrival_seconds=None)
    yield handle
    handle.stop()


def _account(demo: dict[str, Any], setting: str) -> dict[str, Any]:
    return next(account for account in demo["callrail_sample_accounts"] if account["setting"] == setting)


def _headers(demo: dict[str, Any], workspace_id: str) -> dict[str, str]:
    key = next(key for key in demo["api_keys"] if key["scope_id"] == workspace_id)
    return {"Authorization": f"Bearer {key['key']}"}


def _jobs(api: httpx.Client, demo: dict[str, Any], workspace_id: str, **params: str) -> list[dict[str, Any]]:
    """Every job of the workspace (all pages), listed with the workspace's own key."""
    found: list[dict[str, Any]] = []
    query: dict[str, Any] = {"workspace_id": workspace_id, "limit": 100, **params}
    for _ in range(20):
        response = api.get("/api/v1/jobs", params=query, headers=_headers(demo, workspace_id))
        assert response.status_code == 200, response.text
        page = response.json()
        found += page["jobs"]
        if not page.get("next_cursor"):
            return found
        query["cursor"] = page["next_cursor"]
    raise AssertionError("more pages than expected")


def _sample_jobs(
    runtime: LocalRuntime, api: httpx.Client, demo: dict[str, Any], account: dict[str, Any], **params: str
) -> list[dict[str, Any]]:
    """The workspace's jobs that came from its SAMPLE account (not the seeded demo jobs)."""
    assert runtime.callrail is not None
    calls = {call["id"] for call in runtime.callrail.calls(account["account_id"])}
    return [job for job in _jobs(api, demo, account["workspace_id"], **params) if job["source_id"] in calls]


def _wait_for(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def test_demo_file_names_the_sample_server_and_its_accounts(runtime: LocalRuntime, demo: dict[str, Any]) -> None:
    assert runtime.callrail is not None
    accounts = demo["callrail_sample_accounts"]
    workspaces = [tenant["id"] for tenant in demo["tenants"] if tenant["kind"] == "workspace"]

    assert demo["callrail_api_url"] == runtime.callrail.url
    assert demo["callrail_api_url"].startswith("http://127.0.0.1:")
    assert sorted(account["workspace_id"] for account in accounts) == sorted(workspaces)
    assert Counter(account["setting"] for account in accounts) == {
        SETTING_DEFAULT: len(workspaces) - 2,
        SETTING_SKIP_ALL: 1,
        SETTING_LOW_LIMIT: 1,
    }
    assert all(account["api_key_parameter"].startswith("/gensail/dev/secrets/callrail/") for account in accounts)
    # The sample server labels its data and the poller reaches it, not api.callrail.com.
    calls = runtime.callrail.calls(accounts[0]["account_id"])
    assert calls
    assert all("SAMPLE DATA" in call["note"] for call in calls)


def test_skip_all_workspace_lists_its_sample_calls_as_skipped(
    runtime: LocalRuntime, api: httpx.Client, demo: dict[str, Any]
) -> None:
    # Given the workspace whose integration sets skip_all_on_ingest
    account = _account(demo, SETTING_SKIP_ALL)

    # When the spec's listing of skipped jobs names it (with its own key)
    # (The poll writes its jobs while the API answers: wait until the skipped listing itself holds them all.)
    jobs = _wait_for(
        lambda: (
            (found := _sample_jobs(runtime, api, demo, account, status="skipped"))
            and len(found) >= account["initial_calls"]
            and found
        ),
        "the skip-all workspace's first poll",
    )

    # Then every sample call is there, skipped on ingest, from CallRail
    assert len(jobs) >= account["initial_calls"]
    assert {job["skipped_reason"] for job in jobs} == {SkipReason.SKIP_ALL_ON_INGEST}
    assert all(job["source"] == "callrail" and job["skipped_at"] for job in jobs)
    assert {job["source_metadata"]["callrail_account_id"] for job in jobs} == {account["account_id"]}
    assert all(job["workspace_id"] == account["workspace_id"] for job in jobs)
    # and nothing of it was queued
    assert all(job["status"] == "skipped" for job in _sample_jobs(runtime, api, demo, account))


def test_low_limit_workspace_queues_its_limit_and_skips_the_rest(
    runtime: LocalRuntime, api: httpx.Client, demo: dict[str, Any]
) -> None:
    # Given the workspace that may queue SAMPLE_LOW_DAILY_LIMIT calls a day, after its first poll
    account = _account(demo, SETTING_LOW_LIMIT)
    jobs = _wait_for(
        lambda: (
            (found := _sample_jobs(runtime, api, demo, account)) and len(found) >= account["initial_calls"] and found
        ),
        "the low-limit workspace's first poll",
    )

    # Then exactly the limit went in as queued (whatever the pipeline made of them since), the rest rate_limit
    admitted = [job for job in jobs if job["skipped_reason"] != SkipReason.RATE_LIMIT]
    limited = [job for job in jobs if job["skipped_reason"] == SkipReason.RATE_LIMIT]
    assert len(admitted) == SAMPLE_LOW_DAILY_LIMIT
    assert len(limited) == len(jobs) - SAMPLE_LOW_DAILY_LIMIT
    assert all(job["status"] == "skipped" for job in limited)
    assert all(
        job["status"] in {*IN_FLIGHT, "completed", "failed"} or BELOW_MINIMUM.match(job["skipped_reason"] or "")
        for job in admitted
    )


def test_default_workspace_sample_calls_run_through_the_pipeline(
    runtime: LocalRuntime, api: httpx.Client, demo: dict[str, Any]
) -> None:
    # Given a workspace with the default settings (the platform's 30 s minimum) and its sample calls
    assert runtime.callrail is not None
    workspace_id = next(key["scope_id"] for key in demo["api_keys"] if key["scope"] == "workspace")
    account = next(account for account in demo["callrail_sample_accounts"] if account["workspace_id"] == workspace_id)
    assert account["setting"] == SETTING_DEFAULT
    calls = {call["id"]: call for call in runtime.callrail.calls(account["account_id"])}

    # When the poller has ingested them and the worker and the pipeline have settled them
    def settled() -> list[dict[str, Any]] | None:
        jobs = _sample_jobs(runtime, api, demo, account)
        if len(jobs) < account["initial_calls"] or any(job["status"] in IN_FLIGHT for job in jobs):
            return None
        return jobs

    jobs = _wait_for(settled, "the default workspace's sample calls to settle")

    # Then short calls are skipped for their duration, the others complete; unanswered calls (no talk time, no
    # transcript) are always among the short ones, so none ends failed for want of a transcript
    for job in jobs:
        call = calls[job["source_id"]]
        assert job["source"] == "callrail"
        assert job["duration_seconds"] == call["duration"]
        assert job["source_metadata"]["callrail_account_id"] == account["account_id"]
        if call["duration"] < PLATFORM_MINIMUM:
            assert job["status"] == "skipped", job
            assert job["skipped_reason"] == f"duration_below_minimum:{call['duration']}<{PLATFORM_MINIMUM}"
        else:
            assert call["answered"], call
            assert job["status"] == "completed", job
    assert any(job["status"] == "completed" for job in jobs)


def test_second_dispatch_creates_no_duplicates(runtime: LocalRuntime, api: httpx.Client, demo: dict[str, Any]) -> None:
    # Given the first poll of every workspace done
    accounts = demo["callrail_sample_accounts"]
    _wait_for(
        lambda: all(len(_sample_jobs(runtime, api, demo, account)) >= account["initial_calls"] for account in accounts),
        "every workspace's first poll",
    )
    consumer = runtime.queues.mappings[0]
    dispatcher = runtime.scheduler.entries[
        [entry.schedule.function_id for entry in runtime.scheduler.entries].index(
            next(fid for fid, name in runtime.function_names.items() if "PollDispatcher" in name)
        )
    ]
    deleted_before = consumer.done

    # When the dispatcher runs again (the same window plus whatever arrived since)
    summary = runtime.scheduler.run_now(dispatcher.schedule.function_id)
    assert summary["sent"] == len(accounts)
    _wait_for(lambda: consumer.done >= deleted_before + len(accounts), "the second round of polls")

    # Then no call became two jobs, and every call the sample server had before the dispatch is a job once
    for account in accounts:
        jobs = _sample_jobs(runtime, api, demo, account)
        assert Counter(job["source_id"] for job in jobs).most_common(1)[0][1] == 1
        assert len(jobs) >= account["initial_calls"]
    assert consumer.failed == 0


def test_stop_ends_the_sample_server_the_consumer_and_every_thread(runtime: LocalRuntime) -> None:
    # Given a runtime whose ingested calls have settled
    _wait_for(lambda: not runtime.running_executions(), "the pipeline executions to end")

    # When it stops
    started = time.monotonic()
    runtime.stop()

    # Then the queue consumer, the scheduler and the sample server have ended, with every other thread it started
    assert not runtime.queues.alive
    assert not runtime.scheduler.alive
    assert runtime.leftover_threads() == [], [thread.name for thread in runtime.leftover_threads()]
    assert time.monotonic() - started < 15
