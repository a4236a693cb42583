"""Each function's settings: one pydantic model read from the environment when the handler starts."""

from __future__ import annotations

import os
from typing import Self

from pydantic import BaseModel, ConfigDict, Field


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    @classmethod
    def from_environ(cls) -> Self:
        return cls.model_validate(dict(os.environ))


class AuthorizerSettings(_Settings):
    table_name: str = Field(alias="TABLE_NAME")


class ApiSettings(_Settings):
    table_name: str = Field(alias="TABLE_NAME")
    cursor_secret_arn: str = Field(alias="CURSOR_SECRET_ARN")
    # Tenant ancestry never changes, so cached workspace records only go stale when a workspace is deleted.
    tenant_cache_seconds: int = Field(default=300, alias="TENANT_CACHE_SECONDS")
    config_prefix: str = Field(alias="CONFIG_PREFIX")
    # Only levels without a versioned head (never changed through the API or admin command) are read from SSM.
    config_cache_seconds: int = Field(default=60, alias="CONFIG_CACHE_SECONDS")


class WorkerSettings(_Settings):
    table_name: str = Field(alias="TABLE_NAME")
    config_prefix: str = Field(alias="CONFIG_PREFIX")
    state_machine_arn: str = Field(alias="STATE_MACHINE_ARN")
    config_cache_seconds: int = Field(default=60, alias="CONFIG_CACHE_SECONDS")


class ReconcilerSettings(WorkerSettings):
    stuck_after_seconds: int = Field(default=900, alias="STUCK_AFTER_SECONDS")


class StageSettings(_Settings):
    table_name: str = Field(alias="TABLE_NAME")
    config_prefix: str = Field(alias="CONFIG_PREFIX")
    artifacts_bucket: str = Field(alias="ARTIFACTS_BUCKET")
    event_bus_name: str = Field(alias="EVENT_BUS_NAME")
    config_cache_seconds: int = Field(default=60, alias="CONFIG_CACHE_SECONDS")


class PollerSettings(_Settings):
    table_name: str = Field(alias="TABLE_NAME")
    config_prefix: str = Field(alias="CONFIG_PREFIX")
    poll_queue_url: str | None = Field(default=None, alias="POLL_QUEUE_URL")
    callrail_api_url: str = Field(default="https://api.callrail.com/v3", alias="CALLRAIL_API_URL")
    config_cache_seconds: int = Field(default=60, alias="CONFIG_CACHE_SECONDS")
