"""The config store against SSM (moto): batched, cached, absent levels remembered, malformed levels loud."""

from __future__ import annotations

import json

import boto3
import pytest

from shared.access import TenantPath
from shared.config.hierarchy import ConfigLevel, ConfigStore
from shared.errors import ConfigError

PATH = TenantPath(partner_id="p1", organization_id="o1", workspace_id="w1")
PREFIX = "/gensail/config"


def _counting_ssm() -> tuple[object, list[str]]:
    ssm = boto3.client("ssm")
    calls: list[str] = []
    ssm.meta.events.register("before-call.ssm.*", lambda model, **_: calls.append(model.name))
    return ssm, calls


def _put(name: str, document: object) -> None:
    boto3.client("ssm").put_parameter(Name=name, Value=json.dumps(document), Type="String", Overwrite=True)


def test_resolves_through_every_level_in_one_batched_call(aws: None) -> None:
    ssm, calls = _counting_ssm()
    store = ConfigStore(PREFIX, ssm=ssm)
    _put(f"{PREFIX}/partners/p1", {"processing": {"filters": {"min_duration_seconds": 20}}})
    _put(f"{PREFIX}/workspaces/w1", {"integrations": {"callrail": {"skip_all_on_ingest": True}}})
    calls.clear()

    resolved = store.resolve(PATH)

    assert resolved.config.processing.filters.min_duration_seconds == 20
    assert resolved.sources["processing.filters.min_duration_seconds"].parameter == f"{PREFIX}/partners/p1"
    assert resolved.config.integrations.callrail.skip_all_on_ingest is True
    assert calls == ["GetParameters"]


def test_cache_window_covers_present_and_absent_levels(aws: None) -> None:
    ssm, calls = _counting_ssm()
    store = ConfigStore(PREFIX, ssm, max_age_seconds=60)
    _put(f"{PREFIX}/workspaces/w1", {"processing": {"filters": {"min_duration_seconds": 5}}})
    calls.clear()

    for _ in range(1000):
        store.resolve(PATH)

    assert calls == ["GetParameters"]


def test_a_malformed_document_is_an_error_naming_the_parameter(aws: None) -> None:
    boto3.client("ssm").put_parameter(Name=f"{PREFIX}/organizations/o1", Value="{not json", Type="String")
    store = ConfigStore(PREFIX, ssm=boto3.client("ssm"))

    with pytest.raises(ConfigError, match=f"{PREFIX}/organizations/o1"):
        store.resolve(PATH)


def test_a_document_that_is_not_an_object_is_an_error(aws: None) -> None:
    _put(f"{PREFIX}/platform", [1, 2])
    store = ConfigStore(PREFIX, ssm=boto3.client("ssm"))

    with pytest.raises(ConfigError, match="must be a JSON object"):
        store.resolve(PATH)


def test_write_document_refuses_an_invalid_document_and_stores_a_valid_one(aws: None) -> None:
    store = ConfigStore(PREFIX, ssm=boto3.client("ssm"))

    with pytest.raises(ConfigError):
        store.write_document(ConfigLevel.WORKSPACE, "w1", {"processing": {"filters": {"min_duration_seconds": "x"}}})
    store.write_document(ConfigLevel.WORKSPACE, "w1", {"processing": {"filters": {"min_duration_seconds": 9}}})

    assert store.read_document(ConfigLevel.WORKSPACE, "w1") == {"processing": {"filters": {"min_duration_seconds": 9}}}
    assert store.resolve(PATH).config.processing.filters.min_duration_seconds == 9


def test_resolve_many_batches_the_union_of_documents(aws: None) -> None:
    ssm, calls = _counting_ssm()
    store = ConfigStore(PREFIX, ssm=ssm)
    paths = [TenantPath(partner_id="p1", organization_id="o1", workspace_id=f"w{i}") for i in range(5)]

    resolved = store.resolve_many(paths)

    assert set(resolved) == {f"w{i}" for i in range(5)}
    # 8 distinct names (platform, partner, organization, 5 workspaces): one GetParameters of at most 10.
    assert calls == ["GetParameters"]
