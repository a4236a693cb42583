"""What the admin command works on: a target (table and config prefix) and its repositories."""

from __future__ import annotations

from functools import cached_property

from pydantic import BaseModel, ConfigDict

from shared.auth.keys import ApiKeyRepository
from shared.aws import client
from shared.config.documents import ConfigDocuments
from shared.config.hierarchy import ConfigStore
from shared.config.service import ConfigService, TenantAncestry
from shared.jobs.repository import JobRepository
from shared.tenants.registry import TenantRegistry


class AdminTarget(BaseModel):
    """Where the command works: the table, the config parameter prefix, and a local endpoint if any."""

    model_config = ConfigDict(frozen=True)

    table_name: str
    config_prefix: str
    endpoint_url: str | None = None
    region: str | None = None
    production: bool = False  # the production stage's stack


class Services:
    """The repositories of one target, built on first use."""

    def __init__(self, target: AdminTarget) -> None:
        self.target = target

    @cached_property
    def tenants(self) -> TenantRegistry:
        return TenantRegistry(self.target.table_name, client("dynamodb"))

    @cached_property
    def keys(self) -> ApiKeyRepository:
        return ApiKeyRepository(self.target.table_name, client("dynamodb"))

    @cached_property
    def jobs(self) -> JobRepository:
        return JobRepository(self.target.table_name, client("dynamodb"))

    @cached_property
    def config(self) -> ConfigStore:
        return ConfigStore(self.target.config_prefix, client("ssm"))

    @cached_property
    def config_documents(self) -> ConfigDocuments:
        return ConfigDocuments(self.target.table_name, self.config, client("dynamodb"))

    @cached_property
    def config_service(self) -> ConfigService:
        """The API's config service, used as an operator: any level, any setting, with history."""
        return ConfigService(self.config_documents, TenantAncestry(self.tenants))
