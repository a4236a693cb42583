"""``gensail config show`` and ``config set`` against a stand-in of the config API (issue 7's contract)."""

from __future__ import annotations

import json

import httpx
import pytest
from click.testing import CliRunner, Result
from gensail import RetryPolicy
from gensail.cli import output
from gensail.cli.commands import cli, merge_patch, parse_value

from tests.sdk.test_config_client import WORKSPACE, ConfigApi


def gensail(api: ConfigApi, *arguments: str) -> Result:
    runner = CliRunner(env={"GENSAIL_API_KEY": "gsk_test", "GENSAIL_BASE_URL": "https://api.test"})
    options = {"transport": httpx.MockTransport(api), "retry": RetryPolicy(max_attempts=1)}
    return runner.invoke(cli, list(arguments), obj=options, catch_exceptions=False)


def test_show_lists_each_value_with_the_level_that_sets_it() -> None:
    table = gensail(ConfigApi(), "config", "show", "--workspace", WORKSPACE)
    only_filters = gensail(
        ConfigApi(), "config", "show", "--workspace", WORKSPACE, "processing.filters", "--output", "json"
    )

    assert table.exit_code == 0
    row = next(line for line in table.stdout.splitlines() if "min_duration_seconds" in line)
    assert [cell.strip() for cell in row.strip("│ ").split("│")] == [
        "processing.filters.min_duration_seconds",
        "10",
        "workspace",
        WORKSPACE,
    ]
    assert json.loads(only_filters.stdout) == {
        "processing.filters.min_duration_seconds": {"value": 10, "source": {"level": "workspace", "id": WORKSPACE}}
    }


def test_set_sends_a_merge_patch_of_the_dotted_key() -> None:
    api = ConfigApi()

    result = gensail(api, "config", "set", "--workspace", WORKSPACE, "processing.filters.min_duration_seconds", "10")

    assert result.exit_code == 0
    assert "version 4" in result.stdout
    sent = api.requests[0]
    assert (sent.method, sent.url.path) == ("PATCH", f"/api/v1/config/workspaces/{WORKSPACE}")
    assert json.loads(sent.content) == {"processing": {"filters": {"min_duration_seconds": 10}}}


def test_set_with_preview_writes_nothing_and_shows_the_counts() -> None:
    api = ConfigApi()

    table = gensail(
        api, "config", "set", "--workspace", WORKSPACE, "processing.filters.min_duration_seconds", "5", "--preview"
    )
    as_json = gensail(
        api,
        "config",
        "set",
        "--workspace",
        WORKSPACE,
        "processing.filters.min_duration_seconds",
        "5",
        "--preview",
        "--output",
        "json",
    )

    assert table.exit_code == 0
    assert "4 of 9 skipped jobs would pass (nothing was written)" in table.stdout
    assert json.loads(as_json.stdout)["would_pass"] == 4
    assert [request.method for request in api.requests] == ["POST", "POST"]


def test_refused_change_exits_with_its_code() -> None:
    api = ConfigApi()

    result = gensail(api, "config", "set", "--workspace", "ws_other", "processing.filters.min_duration_seconds", "5")

    assert result.exit_code == output.EXIT_FORBIDDEN
    assert result.stderr == "error: forbidden: forbidden\n"


@pytest.mark.parametrize(
    ("text", "value"), [("10", 10), ("null", None), ("true", True), ('["a"]', ["a"]), ("hello", "hello")]
)
def test_values_read_as_json_else_text(text: str, value: object) -> None:
    assert parse_value(text) == value


def test_merge_patch_nests_the_dotted_key() -> None:
    assert merge_patch("a.b.c", None) == {"a": {"b": {"c": None}}}
