"""``gensail requeue`` against a stand-in of issue 11's contract: the progress bar to the end, Ctrl-C, exit codes."""

from __future__ import annotations

import json

import httpx
from click.testing import CliRunner, Result
from gensail import RetryPolicy
from gensail.cli import output
from gensail.cli.commands import cli

from tests.sdk.batch_api import BUSY_WORKSPACE, SKIPPED_BY_REASON, WORKSPACE, BatchApi


class InterruptingSleep:
    """A sleep that records its waits and raises ``KeyboardInterrupt`` (Ctrl-C) on call number ``at``."""

    def __init__(self, at: int | None = None) -> None:
        self.at = at
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if len(self.waits) == self.at:
            raise KeyboardInterrupt


def gensail(api: BatchApi, *arguments: str, sleep: InterruptingSleep | None = None, answer: str = "") -> Result:
    runner = CliRunner(env={"GENSAIL_API_KEY": "gsk_test", "GENSAIL_BASE_URL": "https://api.test"})
    options = {
        "transport": httpx.MockTransport(api),
        "retry": RetryPolicy(max_attempts=1),
        "sleep": sleep or InterruptingSleep(),
    }
    return runner.invoke(cli, list(arguments), obj=options, input=answer, catch_exceptions=False)


def _sent(api: BatchApi, method: str, suffix: str) -> list[httpx.Request]:
    return [r for r in api.requests if r.method == method and r.url.path.endswith(suffix)]


def test_the_progress_bar_is_driven_to_the_end() -> None:
    # Given a workspace whose 10 jobs of one reason the stand-in's batch takes 4 a page
    api = BatchApi(jobs=SKIPPED_BY_REASON["duration_below_minimum"])
    sleep = InterruptingSleep()

    # When the command starts a batch of that reason
    result = gensail(api, "requeue", "--workspace", WORKSPACE, "--reason", "duration_below_minimum", sleep=sleep)

    # Then the batch was created as asked, the bar ends full at the 10 jobs the preview announced, and the final
    # counts are shown
    assert result.exit_code == output.EXIT_OK, result.stderr
    (create,) = _sent(api, "POST", "/requeue-batches")
    assert json.loads(create.content) == {
        "workspace_ids": [WORKSPACE],
        "skip_reasons": ["duration_below_minimum"],
        "only_passing": True,
        "dry_run": False,
    }
    bar = "\n".join(result.stderr.strip().splitlines()[-2:])  # the bar, then its counts
    assert "requeue completed" in bar
    assert "10/10" in bar
    assert "requeued 8 · left skipped 2" in bar
    assert sleep.waits == [1.0, 1.0, 1.0]
    cells = [line.split("│") for line in result.stdout.splitlines() if "│" in line]
    rows = {cell[1].strip(): cell[2].strip() for cell in cells}
    assert (rows["status"], rows["matched"], rows["requeued"], rows["would_skip"]) == ("completed", "10", "8", "2")


def test_the_estimate_covers_every_reason_when_none_is_named() -> None:
    api = BatchApi(jobs=13)

    result = gensail(api, "requeue", "--workspace", WORKSPACE, "--poll-interval", "0.2")

    assert result.exit_code == output.EXIT_OK, result.stderr
    assert "13/13" in result.stderr.strip().splitlines()[-2]
    assert len(_sent(api, "POST", "/preview")) == 1


def test_a_dry_run_prints_the_final_batch_as_json() -> None:
    api = BatchApi(jobs=5)

    result = gensail(api, "requeue", "--dry-run", "--max-jobs", "5", "--output", "json")

    assert result.exit_code == output.EXIT_OK, result.stderr
    batch = json.loads(result.stdout)
    assert (batch["status"], batch["dry_run"], batch["counts"]["matched"], batch["counts"]["requeued"]) == (
        "completed",
        True,
        5,
        0,
    )
    assert json.loads(_sent(api, "POST", "/requeue-batches")[0].content) == {
        "max_jobs": 5,
        "only_passing": True,
        "dry_run": True,
    }
    assert "dry run completed" in result.stderr
    assert "5/5" in result.stderr


def test_ctrl_c_then_yes_cancels_the_batch() -> None:
    # Given a long batch, and Ctrl-C pressed during the second wait between reads
    api = BatchApi(jobs=1000)

    # When the user answers yes to the offer
    result = gensail(api, "requeue", "--output", "json", sleep=InterruptingSleep(at=2), answer="y\n")

    # Then the batch is cancelled, followed to its end, shown, and the exit code says it was interrupted
    assert result.exit_code == output.EXIT_INTERRUPTED
    assert "Cancel batch rb_1?" in result.stderr
    assert len(_sent(api, "POST", "/rb_1/cancel")) == 1
    batch = json.loads(result.stdout)
    assert batch["status"] == "cancelled"
    assert batch["counts"]["matched"] == 4


def test_ctrl_c_then_no_leaves_the_batch_running() -> None:
    api = BatchApi(jobs=1000)

    result = gensail(api, "requeue", sleep=InterruptingSleep(at=1), answer="n\n")

    assert result.exit_code == output.EXIT_INTERRUPTED
    assert _sent(api, "POST", "/cancel") == []
    assert "Batch rb_1 goes on on the server." in result.stderr
    assert api.batches["rb_1"]["status"] == "running"


def test_a_busy_workspace_is_refused_with_its_exit_code() -> None:
    api = BatchApi()

    result = gensail(api, "requeue", "--workspace", BUSY_WORKSPACE)
    as_json = gensail(api, "requeue", "--workspace", BUSY_WORKSPACE, "--output", "json")

    assert result.exit_code == output.EXIT_REFUSED
    assert result.stderr.startswith(f"error: batch_in_progress: Workspace {BUSY_WORKSPACE} has batch")
    assert json.loads(as_json.stderr)["code"] == "batch_in_progress"


def test_a_batch_cancelled_by_someone_else_exits_with_its_code() -> None:
    # Given a batch that another client cancels while the command follows it
    api = BatchApi(jobs=1000)

    class CancelElsewhere(InterruptingSleep):
        def __call__(self, seconds: float) -> None:
            super().__call__(seconds)
            api.cancelled.add("rb_1")

    result = gensail(api, "requeue", sleep=CancelElsewhere())

    assert result.exit_code == output.EXIT_BATCH_NOT_COMPLETED
    assert "requeue cancelled" in result.stderr


def test_an_unknown_reason_is_a_usage_error() -> None:
    result = gensail(BatchApi(), "requeue", "--reason", "too_short")

    assert result.exit_code == output.EXIT_USAGE
