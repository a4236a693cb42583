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
