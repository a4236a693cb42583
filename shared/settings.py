"""Each function's settings: one pydantic model read from the environment when the handler starts.

The models own the environment variable names (their aliases): the stack builds each function's environment with
``environment()`` of the function's model, so a name is spelled only here.
"""

from __future__ import annotations

import os
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field


class FunctionSettings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    @classmethod
    def from_environ(cls) -> Self:
        return cls.model_validate(dict(os.environ))

    @classmethod
    def environment(cls, **values: Any) -> dict[str, str]:
        """The environment variables that give these ``values`` (by field name) to ``from_environ``.

        Values are passed through as text unchecked (the stack's are deploy-time tokens); every required field
        must have one and no value may be for a field the model does not have.
        """
        fields = cls.model_fields
        unknown = sorted(set(values) - set(fields))
        missing = sorted(name for name, field in fields.items() if field.is_required() and name not in values)
        if unknown or missing:
            raise TypeError(f"{cls.__name__}: unknown settings {unknown}, missing settings {missing}")
        return {str(fields[name].alias or name): str(value) for name, value in values.items()}

    @classmethod
    def variable_names(cls) -> tuple[frozenset[str], frozenset[str]]:
        """The environment variable names of the required fields and of all fields."""
        fields = cls.model_fields
        required = frozenset(str(field.alias or name) for name, field in fields.items() if field.is_required())
        return required, frozenset(str(field.alias or name) for name, field in fields.items())


class AuthorizerSettings(FunctionSettings):
    table_name: str = Field(alias="TABLE_NAME")


class ApiSettings(FunctionSettings):
    table_name: str = Field(alias="TABLE_NAME")
    cursor_secret_arn: str = Field(alias="CURSOR_SECRET_ARN")
    # Tenant ancestry never changes, so cached workspace records only go stale when a workspace is deleted.
    tenant_cache_seconds: int = Field(default=300, alias="TENANT_CACHE_SECONDS")
    config_prefix: str = Field(alias="CONFIG_PREFIX")
    # Only levels without a versioned head (never changed through the API or admin command) are read from SSM.
    config_cache_seconds: int = Field(default=60, alias="CONFIG_CACHE_SECONDS")


class WorkerSettings(FunctionSettings):
    table_name: str = Field(alias="TABLE_NAME")
    config_prefix: str = Field(alias="CONFIG_PREFIX")
    state_machine_arn: str = Field(alias="STATE_MACHINE_ARN")
    config_cache_seconds: int = Field(default=60, alias="CONFIG_CACHE_SECONDS")


class ReconcilerSettings(WorkerSettings):
    stuck_after_seconds: int = Field(default=900, alias="STUCK_AFTER_SECONDS")


class StageSettings(FunctionSettings):
    table_name: str = Field(alias="TABLE_NAME")
    config_prefix: str = Field(alias="CONFIG_PREFIX")
    artifacts_bucket: str = Field(alias="ARTIFACTS_BUCKET")
    event_bus_name: str = Field(alias="EVENT_BUS_NAME")
    config_cache_seconds: int = Field(default=60, alias="CONFIG_CACHE_SECONDS")


class PollerSettings(FunctionSettings):
    table_name: str = Field(alias="TABLE_NAME")
    config_prefix: str = Field(alias="CONFIG_PREFIX")
    poll_queue_url: str | None = Field(default=None, alias="POLL_QUEUE_URL")
    callrail_api_url: str = Field(default="https://api.callrail.com/v3", alias="CALLRAIL_API_URL")
    config_cache_seconds: int = Field(default=60, alias="CONFIG_CACHE_SECONDS")


class BatchStarterSettings(FunctionSettings):
    table_name: str = Field(alias="TABLE_NAME")
    state_machine_arn: str = Field(alias="STATE_MACHINE_ARN")


class BatchRunnerSettings(FunctionSettings):
    table_name: str = Field(alias="TABLE_NAME")
    config_prefix: str = Field(alias="CONFIG_PREFIX")
    config_cache_seconds: int = Field(default=60, alias="CONFIG_CACHE_SECONDS")


class BatchAnnouncerSettings(BatchRunnerSettings):
    event_bus_name: str = Field(alias="EVENT_BUS_NAME")
