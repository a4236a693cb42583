"""The client against the local runtime: every page, reads, requeues, problems mapped and faults retried."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gensail import AsyncGensail, Gensail, JobStatus, RetryPolicy
from gensail import errors as sdk_errors
from gensail._core import Operation, model_parser
from gensail.models import JobList

from infra.local.runtime import LocalRuntime
from shared.aws import client as aws_client
from shared.jobs.models import requeue_message
from shared.jobs.repository import JobRepository
from shared.tenants.registry import TenantRegistry
from tests.sdk.conftest import Faults, Sleeps, demo_key, workspaces_of
from tests.sdk.readme_examples import run_readme_example
from tests.support.factories import make_job

EXTRA_SKIPPED = 100


@pytest.fixture(scope="module")
def crowded(runtime: LocalRuntime, demo: dict[str, Any]) -> dict[str, Any]:
    """A workspace key whose workspace holds more skipped jobs than two pages of 50."""
    key = demo_key(demo, "workspace", 2)
    workspace = TenantRegistry(runtime.table_name, aws_client("dynamodb")).get_workspace(key["scope_id"])
    assert workspace is not None
    jobs = JobRepository(runtime.table_name, aws_client("dynamodb"))
    for minutes in range(EXTRA_SKIPPED):
        jobs.create(make_job(workspace, duration=5, minutes_ago=minutes + 1))
    return key


@pytest.fixture
def client(runtime: LocalRuntime, crowded: dict[str, Any], sleeps: Sleeps) -> Iterator[Gensail]:
    with Gensail(api_key=crowded["key"], base_url=runtime.api_url, sleep=sleeps) as gensail:
        yield gensail


def _skipped_ids(runtime: LocalRuntime, key: dict[str, Any]) -> list[str]:
    with httpx.Client(base_url=runtime.api_url, headers={"Authorization": f"Bearer {key['key']}"}) as raw:
        ids: list[str] = []
        params: dict[str, Any] = {"status": "skipped", "limit": 100}
        while True:
            page = raw.get("/api/v1/jobs", params=params).json()
            ids += [job["job_id"] for job in page["jobs"]]
            if page["next_cursor"] is None:
                return ids
            params["cursor"] = page["next_cursor"]


def test_list_reads_every_page(client: Gensail, runtime: LocalRuntime, crowded: dict[str, Any]) -> None:
    # Given a workspace with more skipped jobs than one page holds (50 by default)
    expected = _skipped_ids(runtime, crowded)
    assert len(expected) > 2 * 50

    # When the client lists them, and page by page with pages of 50
    listed = [job.job_id for job in client.jobs.list(status="skipped")]
    pages = list(client.jobs.list(status=JobStatus.SKIPPED, limit=50).pages())

    # Then every job comes, once, newest first, over three pages
    assert listed == expected
    assert [len(page.jobs) for page in pages] == [50, 50, len(expected) - 100]
    assert pages[-1].next_cursor is None


def test_async_client_lists_every_page(runtime: LocalRuntime, crowded: dict[str, Any]) -> None:
    async def listed() -> list[str]:
        async with AsyncGensail(api_key=crowded["key"], base_url=runtime.api_url) as gensail:
            return [job.job_id async for job in gensail.jobs.list(status="skipped", workspace_id=crowded["scope_id"])]

    assert asyncio.run(listed()) == _skipped_ids(runtime, crowded)


def _new_skipped_job(runtime: LocalRuntime, key: dict[str, Any], duration: int) -> str:
    """A fresh skipped job of the key's workspace, so that no other test has requeued it."""
    workspace = TenantRegistry(runtime.table_name, aws_client("dynamodb")).get_workspace(key["scope_id"])
    assert workspace is not None
    return (
        JobRepository(runtime.table_name, aws_client("dynamodb")).create(make_job(workspace, duration=duration)).job_id
    )


def test_get_and_requeue(client: Gensail, runtime: LocalRuntime, crowded: dict[str, Any]) -> None:
    # Given a skipped job
    job_id = _new_skipped_job(runtime, crowded, duration=5)

    # When it is requeued, and read back
    result = client.jobs.requeue(job_id)
    again = client.jobs.get(int(job_id))

    # Then the answer is the spec's, and the job carries the requeue
    assert (result.job_id, result.previous_status, result.new_status) == (job_id, "skipped", "queued")
    assert result.message == requeue_message(1)
    assert again.job_id == job_id
    assert again.source_metadata["requeue_count"] == 1


def test_requeue_retried_after_landing_answers_job_not_skipped(
    runtime: LocalRuntime, crowded: dict[str, Any], sleeps: Sleeps
) -> None:
    # Given a skipped job long enough to pass the filters once requeued (so it is not skipped again meanwhile),
    # and a requeue whose first attempt lands but whose answer is lost to a 503
    job_id = _new_skipped_job(runtime, crowded, duration=600)
    faults = Faults(httpx.HTTPTransport(), [503], through=True)
    with Gensail(api_key=crowded["key"], base_url=runtime.api_url, transport=faults, sleep=sleeps) as gensail:
        # When the client retries it
        with pytest.raises(sdk_errors.JobNotSkipped) as raised:
            gensail.jobs.requeue(job_id)

        # Then the retry answers job_not_skipped after two attempts, and the job was requeued once
        assert (raised.value.status, raised.value.attempts, len(faults.requests)) == (400, 2, 2)
        assert gensail.jobs.get(job_id).source_metadata["requeue_count"] == 1


@pytest.mark.parametrize(
    ("faults", "headers", "expected_waits"),
    [
        pytest.param([429, 429], {"Retry-After": "2"}, [2.0, 2.0], id="429-retry-after"),
        pytest.param([500, 502, 503], {}, None, id="5xx"),
        pytest.param([httpx.ConnectError("refused"), httpx.ReadTimeout("slow")], {}, None, id="connection"),
    ],
)
def test_faults_are_retried_until_the_answer_comes(
    runtime: LocalRuntime,
    crowded: dict[str, Any],
    sleeps: Sleeps,
    faults: list[int | Exception],
    headers: dict[str, str],
    expected_waits: list[float] | None,
) -> None:
    # Given a network that fails the first attempts
    transport = Faults(httpx.HTTPTransport(), faults, headers=headers)
    with Gensail(api_key=crowded["key"], base_url=runtime.api_url, transport=transport, sleep=sleeps) as gensail:
        # When a page is read
        page = next(gensail.jobs.list(status="skipped").pages())

    # Then it arrives after one retry per fault, each after a wait within the backoff or as Retry-After asked
    assert len(page.jobs) == 50
    assert len(transport.requests) == len(faults) + 1
    policy = RetryPolicy()
    if expected_waits is not None:
        assert sleeps.waits == expected_waits
    else:
        assert len(sleeps.waits) == len(faults)
        for retry, wait in enumerate(sleeps.waits, start=1):
            assert 0 <= wait <= policy.initial_delay * 2 ** (retry - 1)


def test_retry_budget_gives_up_with_the_last_answer(runtime: LocalRuntime, crowded: dict[str, Any]) -> None:
    sleeps = Sleeps()
    transport = Faults(httpx.HTTPTransport(), [503] * 10)
    policy = RetryPolicy(max_attempts=3)
    with (
        Gensail(crowded["key"], runtime.api_url, transport=transport, sleep=sleeps, retry=policy) as gensail,
        pytest.raises(sdk_errors.ServiceUnavailable) as raised,
    ):
        gensail.jobs.get("1")

    assert (raised.value.attempts, len(transport.requests), len(sleeps.waits)) == (3, 3, 2)


def _send(client: Gensail, method: str, path: str, **fields: Any) -> None:
    client.send(Operation(method, path, model_parser(JobList), **fields))


def test_problems_of_the_runtime_map_to_their_classes(
    client: Gensail, runtime: LocalRuntime, demo: dict[str, Any]
) -> None:
    # Given keys of every kind and jobs of several states
    partner = demo_key(demo, "partner", 1)
    foreign_workspace = workspaces_of(demo, partner["scope_id"])[0]
    completed = next(iter(client.jobs.list(status="completed")))
    page = next(client.jobs.list(limit=1).pages())
    assert page.next_cursor is not None
    json_body = {"headers": {"Content-Type": "application/json"}}

    def code_of(call: Any) -> tuple[type[sdk_errors.APIError], str | None, int]:
        with pytest.raises(sdk_errors.APIError) as raised:
            call()
        return type(raised.value), raised.value.code, raised.value.status

    with Gensail(api_key="gsk_" + "0" * 40, base_url=runtime.api_url) as stranger:
        unauthorized = code_of(lambda: stranger.jobs.get(completed.job_id))
    with Gensail(api_key=demo_key(demo, "organization")["key"], base_url=runtime.api_url) as organization:
        workspace_required = code_of(lambda: next(iter(organization.jobs.list())))

    # When each refused call is made, then it raises its code's class with the problem's fields
    assert unauthorized == (sdk_errors.Unauthorized, "unauthorized", 401)
    assert workspace_required == (sdk_errors.WorkspaceRequired, "workspace_required", 400)
    assert code_of(lambda: next(iter(client.jobs.list(workspace_id=foreign_workspace)))) == (
        sdk_errors.Forbidden,
        "forbidden",
        403,
    )
    assert code_of(lambda: client.jobs.get("9" * 19)) == (sdk_errors.JobNotFound, "job_not_found", 404)
    assert code_of(lambda: client.jobs.requeue(completed.job_id)) == (
        sdk_errors.JobNotSkipped,
        "job_not_skipped",
        400,
    )
    assert code_of(lambda: next(iter(client.jobs.list(limit=0)))) == (
        sdk_errors.ValidationError,
        "validation_error",
        400,
    )
    tampered = page.next_cursor[:-4] + ("AAAA" if not page.next_cursor.endswith("AAAA") else "BBBB")
    assert code_of(lambda: _send(client, "GET", "/api/v1/jobs", params={"cursor": tampered})) == (
        sdk_errors.InvalidCursor,
        "invalid_cursor",
        400,
    )
    body = json.dumps({"status": "completed"}).encode()
    assert code_of(
        lambda: _send(client, "PATCH", f"/api/v1/jobs/{completed.job_id}/status", content=body, **json_body)
    ) == (sdk_errors.InvalidStatus, "invalid_status", 400)
    assert code_of(lambda: _send(client, "GET", "/api/v1/nowhere")) == (
        sdk_errors.RouteNotFound,
        "route_not_found",
        404,
    )


def test_validation_problem_carries_each_failed_check(client: Gensail) -> None:
    with pytest.raises(sdk_errors.ValidationError) as raised:
        next(iter(client.jobs.list(limit=101)))

    assert raised.value.instance == "/api/v1/jobs"
    assert [issue.location for issue in raised.value.errors] == ["query.limit"]


def test_readme_client_example_requeues_a_workspace_s_skipped_jobs(
    runtime: LocalRuntime, demo: dict[str, Any], tmp_path: Path
) -> None:
    # Given the README's client example and a demo file holding one workspace's key
    key = demo_key(demo, "workspace", 0)
    demo_file = tmp_path / "demo.json"
    demo_file.write_text(json.dumps({**demo, "api_keys": [key]}))
    expected = len(_skipped_ids(runtime, key))

    # When it runs in its own interpreter, pointed at this runtime
    completed = run_readme_example("from gensail import", runtime.api_url, demo_file)

    # Then every skipped job of the workspace is requeued, each with the spec's message
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert len(lines) == expected >= 3
    for line in lines:
        assert re.fullmatch(rf"Job \d+ requeued: {re.escape(requeue_message(1))}", line), line
