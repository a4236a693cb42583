"""JSON Merge Patch (RFC 7396), the settings a change touches, who may change them, and If-Match."""

from __future__ import annotations

from typing import Any

import pytest

from shared.config.changes import (
    apply_merge_patch,
    changed_settings,
    is_customer_writable,
    require_customer_writable,
)
from shared.config.service import etag_matches
from shared.errors import SettingNotWritable

# The examples of RFC 7396, appendix A.
RFC_EXAMPLES: list[tuple[Any, Any, Any]] = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {}),  # RFC: {"a": {"bb": {}}}; empty sections are dropped here
]


@pytest.mark.parametrize(("target", "patch", "expected"), RFC_EXAMPLES)
def test_merge_patch_follows_rfc_7396(target: Any, patch: Any, expected: Any) -> None:
    assert apply_merge_patch(target, patch) == expected


def test_removing_the_last_setting_of_a_section_drops_the_section() -> None:
    document = {"processing": {"filters": {"min_duration_seconds": 5}}}

    assert apply_merge_patch(document, {"processing": {"filters": {"min_duration_seconds": None}}}) == {}
    assert document == {"processing": {"filters": {"min_duration_seconds": 5}}}  # not changed in place


def test_changed_settings_name_each_changed_leaf_with_old_and_new_values() -> None:
    before = {"processing": {"filters": {"min_duration_seconds": 5}, "analysis": {"keywords": ["a"]}}}
    after = {"processing": {"analysis": {"keywords": ["a", "b"]}}, "integrations": {"callrail": {"enabled": True}}}

    changes = [change.model_dump() for change in changed_settings(before, after)]

    assert changes == [
        {"key": "integrations.callrail.enabled", "old": None, "new": True},
        {"key": "processing.analysis.keywords", "old": ["a"], "new": ["a", "b"]},
        {"key": "processing.filters.min_duration_seconds", "old": 5, "new": None},
    ]


@pytest.mark.parametrize(
    ("key", "writable"),
    [
        ("processing.filters.min_duration_seconds", True),
        ("processing.filters", True),
        ("processing.analysis.keywords", True),
        ("processing.webhooks.urls", True),
        ("integrations.callrail.skip_all_on_ingest", True),
        ("processing.analysis.provider", False),
        ("processing.webhooks.secret_parameter", False),
        ("integrations.callrail.account_id", False),
        ("integrations.callrail.max_calls_per_workspace", False),
        ("processing.filtersx", False),
        ("processing", False),
    ],
)
def test_customers_may_write_the_allowlisted_settings_only(key: str, writable: bool) -> None:
    assert is_customer_writable(key) is writable


def test_a_change_touching_an_operator_setting_is_refused_naming_it() -> None:
    changes = changed_settings({}, {"processing": {"transcription": {"provider": "aws_transcribe"}}})

    with pytest.raises(SettingNotWritable, match=r"processing\.transcription\.provider"):
        require_customer_writable(changes)


@pytest.mark.parametrize(
    ("header", "matches"),
    [('"3"', True), ('"2", "3"', True), ("*", True), ('"2"', False), ('W/"3"', False), ("3", False)],
)
def test_if_match_compares_entity_tags_strongly(header: str, matches: bool) -> None:
    assert etag_matches(header, '"3"') is matches
