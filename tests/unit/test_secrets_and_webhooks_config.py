"""Webhook config a stage accepts: https endpoints (plain http on loopback only), secrets of its own stage only."""

from __future__ import annotations

from typing import Any

import pytest

from shared.config.hierarchy import ConfigSource, merge_levels
from shared.errors import ConfigError
from shared.parameters import ParameterPaths, is_below, is_secret_of_kind

DEV = ParameterPaths.for_stage("dev")
WORKSPACE = ConfigSource(level="workspace", parameter="/gensail/dev/config/workspaces/w")


def _webhooks(**settings: Any) -> list[tuple[ConfigSource, dict[str, Any]]]:
    return [(WORKSPACE, {"processing": {"webhooks": settings}})]


def test_a_stage_keeps_its_parameters_under_its_own_name() -> None:
    assert (DEV.config, DEV.secrets) == ("/gensail/dev/config", "/gensail/dev/secrets")
    assert DEV.webhook_secrets == "/gensail/dev/secrets/webhooks"
    assert DEV.callrail_keys == "/gensail/dev/secrets/callrail"
    assert ParameterPaths.of_config_prefix("/gensail/prod/config/") == ParameterPaths.for_stage("prod")
    with pytest.raises(ValueError, match="ends in /config"):
        ParameterPaths.of_config_prefix("/gensail/prod/secrets")


@pytest.mark.parametrize(
    ("name", "below"),
    [
        ("/gensail/dev/secrets/webhooks/acme", True),
        ("/gensail/dev/secrets/webhooks/team/acme", True),
        ("/gensail/dev/secrets/webhooks", False),  # the folder itself
        ("/gensail/dev/secrets/webhooks/", False),
        ("/gensail/dev/secrets/webhooks/../callrail/ACC1", False),
        ("/gensail/dev/secrets/webhooksX/acme", False),
        ("/gensail/prod/secrets/webhooks/acme", False),
        ("/gensail/dev/secrets/callrail/ACC1", False),
    ],
)
def test_a_name_is_below_a_folder_only_as_a_proper_child(name: str, below: bool) -> None:
    assert is_below(name, DEV.webhook_secrets) is below


@pytest.mark.parametrize(
    "url",
    ["https://hooks.example.test/x", "http://127.0.0.1:8080/hook", "http://localhost/hook", "http://[::1]:9/h"],
)
def test_https_and_loopback_http_urls_are_accepted(url: str) -> None:
    config = merge_levels(_webhooks(urls=[url]), DEV).config

    assert config.processing.webhooks.urls == [url]


@pytest.mark.parametrize("url", ["http://hooks.example.test/x", "http://10.0.0.5/hook", "http://localhost.evil.test/"])
def test_plain_http_to_any_other_host_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="must use https") as refused:
        merge_levels(_webhooks(urls=[url]), DEV)

    assert "/gensail/dev/config/workspaces/w" in refused.value.detail


def test_a_webhook_secret_of_the_stage_is_accepted() -> None:
    config = merge_levels(_webhooks(secret_parameter="/gensail/dev/secrets/webhooks/acme"), DEV).config

    assert config.processing.webhooks.secret_parameter == "/gensail/dev/secrets/webhooks/acme"


@pytest.mark.parametrize(
    "name",
    [
        "/gensail/dev/secrets/callrail/ACC1",  # a CallRail key: the publish stage must never send it
        "/gensail/prod/secrets/webhooks/acme",  # another stage's secret
        "/gensail/dev/config/platform",
        "/other/secret",
    ],
)
def test_a_secret_outside_the_stages_webhook_secrets_is_refused(name: str) -> None:
    with pytest.raises(ConfigError, match=r"is not under /gensail/dev/secrets/webhooks/") as refused:
        merge_levels(_webhooks(secret_parameter=name), DEV)

    assert "processing.webhooks.secret_parameter" in refused.value.detail


def test_without_a_stage_any_stages_webhook_secret_layout_is_accepted_and_nothing_else() -> None:
    assert merge_levels(_webhooks(secret_parameter="/gensail/prod/secrets/webhooks/acme")).config
    with pytest.raises(ConfigError, match="secrets/webhooks/ path"):
        merge_levels(_webhooks(secret_parameter="/gensail/prod/secrets/callrail/ACC1"))
    assert is_secret_of_kind("/gensail/qa/secrets/callrail/ACC1", "callrail")
    assert not is_secret_of_kind("/gensail/qa/secrets/webhooks/x", "callrail")
    assert not is_secret_of_kind("/gensail/qa/secrets/callrail/../../config/platform", "callrail")


def test_the_default_bedrock_model_is_a_cross_region_inference_profile() -> None:
    model = merge_levels([]).config.processing.analysis.bedrock_model_id

    # Recent Anthropic models have no on-demand throughput in any region: only a profile id can be invoked.
    assert model.split(".", 1)[0] in {"global", "us", "eu", "apac"}
    assert model.split(".", 1)[1].startswith("anthropic.")
