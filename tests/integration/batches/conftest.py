"""Requeue batches in-process under moto: the tenants, their skipped jobs and the config the runner reads."""

from __future__ import annotations

import pytest

from shared.aws import client as aws_client
from shared.config.hierarchy import ConfigLevel, ConfigStore, set_path
from shared.jobs.models import Job, JobStatus
from shared.tenants.registry import Workspace
from tests.support.aws import CONFIG_PREFIX
from tests.support.factories import make_job, store_jobs


def set_config(level: ConfigLevel, tenant_id: str | None, path: str, value: object) -> None:
    """Seed one setting at one level (the runner built after this reads it)."""
    store = ConfigStore(CONFIG_PREFIX, aws_client("ssm"))
    store.write_document(level, tenant_id, set_path(store.read_document(level, tenant_id), path, value))


def skipped_jobs(workspace: Workspace, durations: list[int], **fields: object) -> list[Job]:
    """One ``duration_below_minimum`` skipped job per duration, each created a minute before the previous one."""
    return store_jobs([make_job(workspace, duration=d, minutes_ago=i + 1, **fields) for i, d in enumerate(durations)])  # type: ignore[arg-type]


@pytest.fixture
def lowered(tenants: object) -> None:
    """Workspace ws_000's minimum duration lowered from 30 s to 10 s."""
    set_config(ConfigLevel.WORKSPACE, "ws_000", "processing.filters.min_duration_seconds", 10)


__all__ = ["JobStatus", "set_config", "skipped_jobs"]
