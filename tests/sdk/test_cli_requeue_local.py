"""``gensail requeue`` and the README's batch example against the local runtime: the progress bar driven to the
end, and Ctrl-C cancelling a running batch with counts that agree with the jobs."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from gensail import BatchStatus, Gensail, RequeueBatch
from gensail.cli import output
from gensail.cli.commands import cli

from infra.local.runtime import LocalRuntime
from tests.sdk.local_tenants import LocalTenant, new_tenant
from tests.sdk.readme_examples import run_readme_example


class Sleep:
    """Real but short waits between polls; Ctrl-C (``KeyboardInterrupt``) on wait number ``interrupt_at``."""

    def __init__(self, interrupt_at: int | None = None) -> None:
        self.interrupt_at = interrupt_at
        self.calls = 0

    def __call__(self, seconds: float) -> None:
        self.calls += 1
        if self.calls == self.interrupt_at:
            raise KeyboardInterrupt
        time.sleep(min(seconds, 1.0))


def gensail(runtime: LocalRuntime, key: str, *arguments: str, sleep: Sleep | None = None, answer: str = "") -> Result:
    runner = CliRunner(env={"GENSAIL_API_KEY": key, "GENSAIL_BASE_URL": runtime.api_url})
    options: dict[str, Any] = {"sleep": sleep or Sleep()}
    return runner.invoke(cli, [*arguments, "--poll-interval", "0.1"], obj=options, input=answer, catch_exceptions=False)


@pytest.fixture
def tenant(runtime: LocalRuntime, request: pytest.FixtureRequest) -> LocalTenant:
    return new_tenant(runtime, request.node.name[:40])


def _batch_in(result: Result, tenant: LocalTenant) -> RequeueBatch:
    """The batch the command printed (its JSON on standard output, where the in-process runtime's functions also
    log), read back from the API."""
    printed = re.search(r'^  "batch_id": "(rb_\w+)",$', result.stdout, re.MULTILINE)
    assert printed is not None, result.stdout
    with Gensail(api_key=tenant.keys["workspace"], base_url=tenant.runtime.api_url) as client:
        return client.requeue_batches.get(printed.group(1))


def test_the_progress_bar_is_driven_to_the_end(runtime: LocalRuntime, tenant: LocalTenant) -> None:
    # Given 40 skipped jobs too short for the filters (requeued all the same, they are skipped again at once
    # instead of running the pipeline)
    jobs = tenant.add_skipped(40, duration=5)

    # When the command requeues the workspace's duration_below_minimum jobs, by its organization's key
    result = gensail(
        runtime,
        tenant.keys["organization"],
        "requeue",
        "--workspace",
        tenant.workspace_id,
        "--reason",
        "duration_below_minimum",
        "--include-failing",
        "--output",
        "json",
    )

    # Then the bar ends full at the 40 jobs announced, the batch completed, and every job was requeued once
    assert result.exit_code == output.EXIT_OK, result.stderr
    bar = "\n".join(result.stderr.strip().splitlines()[-2:])  # the bar, then its counts
    assert "requeue completed" in bar
    assert "40/40" in bar
    assert "requeued 40" in bar
    batch = _batch_in(result, tenant)
    assert (batch.status, batch.counts.matched, batch.counts.requeued) == ("completed", 40, 40)
    assert all(job.source_metadata["requeue_count"] == 1 for job in tenant.stored(jobs))


def test_ctrl_c_cancels_a_running_batch(runtime: LocalRuntime, tenant: LocalTenant) -> None:
    # Given a workspace with more skipped jobs than the throttle (50 a second) lets a batch requeue in a few seconds
    jobs = tenant.add_skipped(400, duration=5)

    # When Ctrl-C is pressed after a second of polls and the offer to cancel is accepted
    result = gensail(
        runtime,
        tenant.keys["workspace"],
        "requeue",
        "--include-failing",
        "--output",
        "json",
        sleep=Sleep(interrupt_at=10),
        answer="y\n",
    )

    # Then the batch ends cancelled, part-way, and its counts agree with the jobs' states
    assert result.exit_code == output.EXIT_INTERRUPTED, result.stderr
    assert re.search(r"Cancel batch rb_\w+\? .*\[y/N\]: y", result.stderr)
    final = _batch_in(result, tenant)
    assert final.status == BatchStatus.CANCELLED
    requeued = [job for job in tenant.stored(jobs) if job.source_metadata.get("requeue_count", 0) > 0]
    assert final.counts.requeued == len(requeued) < len(jobs)
    assert final.counts.matched == final.counts.requeued
    assert {job.requeue_count for job in requeued} == {1}
    assert {job.source_metadata["last_requeued_batch"] for job in requeued} == {final.batch_id}


def test_readme_batch_example_requeues_every_skipped_job(
    runtime: LocalRuntime, tenant: LocalTenant, tmp_path: Path
) -> None:
    # Given the README's batch example and a demo file holding the tenant's workspace key
    tenant.add_skipped(12, duration=5)
    demo_file = tmp_path / "demo.json"
    key = {"key": tenant.keys["workspace"], "scope": "workspace", "scope_id": tenant.workspace_id}
    demo_file.write_text(json.dumps({"api_keys": [key]}))

    # When it runs in its own interpreter, pointed at this runtime
    completed = run_readme_example("requeue_batches", runtime.api_url, demo_file)

    # Then the batch requeued all 12, the ones the filters will skip again included, as the spec's loop does
    assert completed.returncode == 0, completed.stderr
    assert re.fullmatch(r"Batch rb_\w+ completed: 12 of 12 requeued", completed.stdout.splitlines()[-1])
