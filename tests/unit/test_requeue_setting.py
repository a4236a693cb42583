"""``requeue.max_jobs_per_second``: an operator's partner-wide setting, default 50, never a customer's."""

from __future__ import annotations

import pytest

from shared.config.changes import changed_settings, require_customer_writable
from shared.config.hierarchy import ConfigLevel, ConfigSource, first_invalid_setting, merge_levels
from shared.config.model import EffectiveConfig
from shared.errors import SettingNotWritable

SETTING = "requeue.max_jobs_per_second"


def test_the_platform_default_is_50_jobs_per_second() -> None:
    assert EffectiveConfig().requeue.max_jobs_per_second == 50


def test_a_partner_may_be_given_another_rate_but_not_an_organization_or_a_workspace() -> None:
    raised = {"requeue": {"max_jobs_per_second": 200}}
    assert first_invalid_setting(ConfigLevel.PARTNER, raised) is None
    for level in (ConfigLevel.ORGANIZATION, ConfigLevel.WORKSPACE):
        found = first_invalid_setting(level, raised)
        assert found is not None
        assert found[0] == SETTING
    # one that is there anyway takes no effect: the partner's rate holds for all its workspaces
    resolved = merge_levels(
        [
            (ConfigSource(level="partner", parameter="/p"), {"requeue": {"max_jobs_per_second": 20}}),
            (ConfigSource(level="workspace", parameter="/w"), raised),
        ]
    )
    assert resolved.config.requeue.max_jobs_per_second == 20
    assert resolved.misplaced


def test_a_rate_must_be_at_least_one_job_per_second() -> None:
    assert first_invalid_setting(ConfigLevel.PARTNER, {"requeue": {"max_jobs_per_second": 0}}) is not None


def test_customers_may_not_change_it() -> None:
    with pytest.raises(SettingNotWritable):
        require_customer_writable(changed_settings({}, {"requeue": {"max_jobs_per_second": 500}}))
