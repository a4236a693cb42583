"""Showing, setting and unsetting configuration values at one level, with where each effective value comes from."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from shared.config.hierarchy import ConfigLevel, ConfigStore
from tests.integration.admin.conftest import CONFIG_PREFIX, Admin

MIN_DURATION = "processing.filters.min_duration_seconds"
WORKSPACE_PARAMETER = f"{CONFIG_PREFIX}/workspaces/ws_main"
PARTNER_PARAMETER = f"{CONFIG_PREFIX}/partners/ptn_acme"


def _effective(admin: Admin, workspace_id: str) -> dict[str, Any]:
    shown = admin("config", "show", "--workspace", workspace_id, "--json")
    assert shown.code == 0, shown.err
    values: dict[str, Any] = json.loads(shown.out)["values"]
    return values


def test_workspace_value_overrides_the_default_for_that_workspace_only(admin: Admin, hierarchy: None) -> None:
    # Given the platform default of 30 seconds
    # When an operator lowers the minimum duration for one workspace
    changed = admin("config", "set", "--level", "workspace", "--id", "ws_main", MIN_DURATION, "10")

    # Then that workspace runs with 10, set by its own parameter, and its sibling keeps the default
    assert changed.code == 0, changed.err
    assert changed.out == f"Set {MIN_DURATION} = 10 at workspace ws_main.\n"
    assert _effective(admin, "ws_main")[MIN_DURATION] == {
        "value": 10,
        "level": "workspace",
        "parameter": WORKSPACE_PARAMETER,
    }
    assert _effective(admin, "ws_side")[MIN_DURATION] == {"value": 30, "level": "platform-default", "parameter": None}


def test_partner_value_is_inherited_until_a_workspace_overrides_it(admin: Admin, hierarchy: None) -> None:
    admin("config", "set", "--level", "partner", "--id", "ptn_acme", MIN_DURATION, "45")
    admin("config", "set", "--level", "workspace", "--id", "ws_main", MIN_DURATION, "5")

    assert _effective(admin, "ws_side")[MIN_DURATION] == {
        "value": 45,
        "level": "partner",
        "parameter": PARTNER_PARAMETER,
    }
    assert _effective(admin, "ws_main")[MIN_DURATION]["value"] == 5

    unset = admin("config", "unset", "--level", "workspace", "--id", "ws_main", MIN_DURATION)

    assert unset.code == 0
    assert _effective(admin, "ws_main")[MIN_DURATION] == {
        "value": 45,
        "level": "partner",
        "parameter": PARTNER_PARAMETER,
    }


def test_set_reports_the_value_it_replaces(admin: Admin, hierarchy: None) -> None:
    admin("config", "set", "--level", "platform", MIN_DURATION, "20")

    changed = admin("config", "set", "--level", "platform", MIN_DURATION, "25")

    assert changed.out == f"Set {MIN_DURATION} = 25 at platform (was 20).\n"
    assert _effective(admin, "ws_main")[MIN_DURATION]["level"] == "platform"


def test_show_lists_every_value_with_its_level(admin: Admin, hierarchy: None) -> None:
    admin("config", "set", "--level", "organization", "--id", "org_east", "integrations.callrail.enabled", "true")

    shown = admin("config", "show", "--workspace", "ws_main")

    assert shown.code == 0
    lines = shown.out.splitlines()
    assert lines[0] == "Effective config of workspace ws_main (organization org_east, partner ptn_acme):"
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert rows["integrations.callrail.enabled"] == [
        "integrations.callrail.enabled",
        "true",
        "organization",
        f"{CONFIG_PREFIX}/organizations/org_east",
    ]
    assert rows[MIN_DURATION] == [MIN_DURATION, "30", "platform-default", "-"]
    assert "integrations.callrail.max_total_calls" in rows


def test_show_warns_of_a_partner_wide_limit_stored_below_the_partner(admin: Admin, hierarchy: None) -> None:
    # Given a workspace document that sets the partner's cap, stored without the admin command (which refuses it)
    boto3.client("ssm").put_parameter(
        Name=WORKSPACE_PARAMETER,
        Value=json.dumps({"integrations": {"callrail": {"max_total_calls": 9999}}}),
        Type="String",
        Overwrite=True,
    )

    shown = admin("config", "show", "--workspace", "ws_main")
    as_json = json.loads(admin("config", "show", "--workspace", "ws_main", "--json").out)

    # Then the effective cap is the partner's, and both views say why the stored value is ignored
    assert shown.code == 0
    (warning,) = [line for line in shown.out.splitlines() if line.startswith("warning:")]
    assert f"Invalid config in parameter {WORKSPACE_PARAMETER}" in warning
    assert "the CallRail poller skips this workspace until it is unset" in warning
    assert as_json["values"]["integrations.callrail.max_total_calls"]["level"] == "platform-default"
    assert as_json["misplaced"] == [warning.removeprefix("warning: ").split(" It takes no effect")[0]]


def test_show_level_prints_the_raw_document(admin: Admin, hierarchy: None) -> None:
    admin("config", "set", "--level", "workspace", "--id", "ws_main", MIN_DURATION, "10")

    shown = admin("config", "show", "--level", "workspace", "--id", "ws_main", "--json")
    empty = admin("config", "show", "--level", "partner", "--id", "ptn_acme")

    assert json.loads(shown.out) == {"processing": {"filters": {"min_duration_seconds": 10}}}
    assert empty.out == f"# {PARTNER_PARAMETER}\n{{}}  (nothing set at this level)\n"


def test_values_are_json_when_they_parse_and_strings_otherwise(
    admin: Admin, hierarchy: None, config_store: ConfigStore
) -> None:
    admin("config", "set", "--level", "workspace", "--id", "ws_main", "integrations.callrail.company_id", "COM123")
    admin(
        "config",
        "set",
        "--level",
        "workspace",
        "--id",
        "ws_main",
        "--string",
        "integrations.callrail.account_id",
        "456",
    )

    document = config_store.read_document(ConfigLevel.WORKSPACE, "ws_main")
    assert document["integrations"]["callrail"] == {"company_id": "COM123", "account_id": "456"}


@pytest.mark.parametrize(
    "case",
    [
        ("processing.filters.min_duration", "10", "Unknown config path 'processing.filters.min_duration'"),
        (MIN_DURATION, "-1", f"{MIN_DURATION}: Input should be greater than or equal to 0"),
        (MIN_DURATION, "ten", f"{MIN_DURATION}: Input should be a valid integer"),
        (MIN_DURATION, "true", f"{MIN_DURATION}: Input should be a valid integer"),
        ("integrations.callrail.account_id", "456", "integrations.callrail.account_id: Input should be a valid string"),
        ("processing.filters", "10", "processing.filters: Input should be a valid dictionary"),
    ],
)
def test_invalid_values_are_refused_and_nothing_is_written(
    admin: Admin, hierarchy: None, config_store: ConfigStore, case: tuple[str, str, str]
) -> None:
    path, value, message = case
    refused = admin("config", "set", "--level", "workspace", "--id", "ws_main", path, value)

    assert refused.code == 2
    assert refused.err.startswith("error: ")
    assert message in refused.err
    assert config_store.read_document(ConfigLevel.WORKSPACE, "ws_main") == {}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("--level", "workspace", "--id", "ws_missing"), "error: No workspace with id 'ws_missing'.\n"),
        (("--level", "partner", "--id", "ws_main"), "error: No partner with id 'ws_main'.\n"),
        (("--level", "organization"), "error: --level organization needs --id (the organization's id).\n"),
        (("--level", "platform", "--id", "ptn_acme"), "error: --level platform takes no --id.\n"),
    ],
)
def test_levels_of_missing_tenants_are_refused(
    admin: Admin, hierarchy: None, arguments: tuple[str, ...], message: str
) -> None:
    refused = admin("config", "set", *arguments, MIN_DURATION, "10")

    assert refused.code == 2
    assert refused.err == message
    assert boto3.client("ssm").describe_parameters()["Parameters"] == []


def test_show_of_unknown_workspace_is_refused(admin: Admin, hierarchy: None) -> None:
    refused = admin("config", "show", "--workspace", "ws_missing")

    assert refused.code == 2
    assert refused.err == "error: No workspace with id 'ws_missing'.\n"


def test_unset_of_a_value_not_set_changes_nothing(admin: Admin, hierarchy: None) -> None:
    unset = admin("config", "unset", "--level", "workspace", "--id", "ws_main", MIN_DURATION)
    unknown = admin("config", "unset", "--level", "workspace", "--id", "ws_main", "processing.filters.nope")

    assert unset.code == 0
    assert "not set at workspace ws_main" in unset.out
    assert unknown.code == 2
    assert "Unknown config path 'processing.filters.nope'" in unknown.err


def test_a_misspelt_key_written_by_hand_is_reported_and_can_be_unset(admin: Admin, hierarchy: None) -> None:
    # Given a workspace document edited by hand with a misspelt key
    misspelt = {"processing": {"filters": {"min_duration_second": 5}}}
    boto3.client("ssm").put_parameter(Name=WORKSPACE_PARAMETER, Value=json.dumps(misspelt), Type="String")

    # Then the effective config is refused naming the parameter, rather than silently ignoring the key
    broken = admin("config", "show", "--workspace", "ws_main")
    assert broken.code == 2
    assert f"parameter {WORKSPACE_PARAMETER}" in broken.err
    assert "min_duration_second" in broken.err

    # When the operator removes the misspelt key, the workspace inherits again
    fixed = admin(
        "config", "unset", "--level", "workspace", "--id", "ws_main", "processing.filters.min_duration_second"
    )
    assert fixed.code == 0, fixed.err
    assert _effective(admin, "ws_main")[MIN_DURATION]["level"] == "platform-default"


def test_an_operator_sets_a_partners_requeue_rate_which_no_workspace_can_raise(admin: Admin, hierarchy: None) -> None:
    rate = "requeue.max_jobs_per_second"
    assert _effective(admin, "ws_main")[rate]["value"] == 50  # the platform default

    assert admin("config", "set", "--level", "partner", "--id", "ptn_acme", rate, "200").code == 0
    refused = admin("config", "set", "--level", "workspace", "--id", "ws_main", rate, "1000")

    assert _effective(admin, "ws_main")[rate] == {"value": 200, "level": "partner", "parameter": PARTNER_PARAMETER}
    assert refused.code == 2
    assert "partner-wide" in refused.err
