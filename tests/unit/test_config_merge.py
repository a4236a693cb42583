"""Merging the config hierarchy: inheritance, provenance, and errors that name the parameter."""

from __future__ import annotations

import pytest

from shared.config.hierarchy import ConfigSource, merge_levels, set_path, unset_path
from shared.errors import ConfigError

PARTNER = ConfigSource(level="partner", parameter="/gensail/config/partners/p")
ORGANIZATION = ConfigSource(level="organization", parameter="/gensail/config/organizations/o")
WORKSPACE = ConfigSource(level="workspace", parameter="/gensail/config/workspaces/w")
MIN_DURATION = "processing.filters.min_duration_seconds"


def _filters(value: object) -> dict[str, object]:
    return {"processing": {"filters": {"min_duration_seconds": value}}}


def test_platform_defaults_apply_when_no_level_sets_anything() -> None:
    resolved = merge_levels([])

    assert resolved.config.processing.filters.min_duration_seconds == 30
    assert resolved.config.integrations.callrail.skip_all_on_ingest is False
    assert resolved.config.integrations.callrail.max_calls_per_workspace == 500
    assert resolved.config.integrations.callrail.max_total_calls == 5000
    assert resolved.sources[MIN_DURATION].level == "platform-default"


def test_the_lowest_level_that_sets_a_value_wins() -> None:
    resolved = merge_levels([(PARTNER, _filters(20)), (ORGANIZATION, _filters(15)), (WORKSPACE, _filters(45))])

    assert resolved.config.processing.filters.min_duration_seconds == 45
    assert resolved.sources[MIN_DURATION] == WORKSPACE


def test_absent_keys_inherit_from_the_level_above() -> None:
    resolved = merge_levels(
        [
            (PARTNER, {**_filters(10), "integrations": {"callrail": {"skip_all_on_ingest": True}}}),
            (WORKSPACE, {"integrations": {"callrail": {"max_calls_per_workspace": 3}}}),
        ]
    )

    assert resolved.config.processing.filters.min_duration_seconds == 10
    assert resolved.sources[MIN_DURATION] == PARTNER
    assert resolved.config.integrations.callrail.skip_all_on_ingest is True
    assert resolved.config.integrations.callrail.max_calls_per_workspace == 3
    assert resolved.sources["integrations.callrail.max_calls_per_workspace"] == WORKSPACE


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (_filters("30"), "valid integer"),
        (_filters(-1), "greater than or equal to 0"),
        (_filters(None), "valid integer"),
        ({"processing": {"filters": {"min_duration_secs": 5}}}, "min_duration_secs"),
        ({"processing": "fast"}, "processing"),
        ({"processing": {"webhooks": {"urls": [f"https://hooks.example.test/{n}" for n in range(11)]}}}, "at most 10"),
        ({"processing": {"webhooks": {"urls": ["https://hooks.example.test:99999/x"]}}}, "not a valid URL"),
        ({"processing": {"webhooks": {"urls": ["ftp://hooks.example.test/x"]}}}, "not an https URL"),
    ],
)
def test_a_malformed_value_is_an_error_naming_the_parameter(document: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        merge_levels([(PARTNER, _filters(20)), (ORGANIZATION, document)])

    assert "/gensail/config/organizations/o" in raised.value.detail
    assert message in raised.value.detail


def test_set_and_unset_paths_leave_other_keys_alone() -> None:
    document = set_path({"integrations": {"callrail": {"enabled": True}}}, MIN_DURATION, 12)

    assert document == {"integrations": {"callrail": {"enabled": True}}, **_filters(12)}
    assert unset_path(document, MIN_DURATION) == {"integrations": {"callrail": {"enabled": True}}}


def test_a_value_cannot_be_treated_as_a_section() -> None:
    with pytest.raises(ConfigError):
        set_path(_filters(3), f"{MIN_DURATION}.deeper", 1)
