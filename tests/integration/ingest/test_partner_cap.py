"""The partner's daily cap (``max_total_calls``) is set where the partner's counter is: platform or partner."""

from __future__ import annotations

import pytest

from shared.config.hierarchy import ConfigSource, merge_levels
from shared.errors import ConfigError

PLATFORM = ConfigSource(level="platform", parameter="/gensail/config/platform")
PARTNER = ConfigSource(level="partner", parameter="/gensail/config/partners/p")
ORGANIZATION = ConfigSource(level="organization", parameter="/gensail/config/organizations/o")
WORKSPACE = ConfigSource(level="workspace", parameter="/gensail/config/workspaces/w")


def _cap(calls: int) -> dict[str, object]:
    return {"integrations": {"callrail": {"max_total_calls": calls}}}


def test_the_partner_sets_its_cap_over_the_platforms() -> None:
    resolved = merge_levels([(PLATFORM, _cap(9000)), (PARTNER, _cap(5))])

    assert resolved.config.integrations.callrail.max_total_calls == 5
    assert resolved.sources["integrations.callrail.max_total_calls"] == PARTNER


@pytest.mark.parametrize("below", [ORGANIZATION, WORKSPACE], ids=lambda source: source.level)
def test_a_level_below_the_partner_cannot_set_the_cap(below: ConfigSource) -> None:
    document = {**_cap(100), "processing": {"filters": {"min_duration_seconds": 7}}}
    resolved = merge_levels([(PARTNER, _cap(5)), (below, document)])

    # The value takes no effect, and says so naming the parameter; the rest of the document still counts
    assert resolved.config.integrations.callrail.max_total_calls == 5
    assert resolved.config.processing.filters.min_duration_seconds == 7
    assert resolved.misplaced == [
        f"Invalid config in parameter {below.parameter}: integrations.callrail.max_total_calls is a partner-wide "
        f"limit and cannot be set at {below.level} level; set it in the partner's (or the platform's) document."
    ]
    with pytest.raises(ConfigError) as raised:
        resolved.raise_if_misplaced()
    assert raised.value.detail == resolved.misplaced[0]


def test_the_levels_below_keep_their_own_limits() -> None:
    document = {"integrations": {"callrail": {"max_calls_per_workspace": 3}}}

    resolved = merge_levels([(PARTNER, _cap(5)), (ORGANIZATION, document), (WORKSPACE, document)])

    assert resolved.config.integrations.callrail.max_calls_per_workspace == 3
    assert resolved.config.integrations.callrail.max_total_calls == 5
