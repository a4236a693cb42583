"""What API keys and operators can do with config documents: read, change (merge patch), see the history.

One implementation for both: the API calls it with the key's ``Caller`` (its scope decides the levels it may
touch, and only ``CUSTOMER_WRITABLE`` settings), the admin command as an operator (any level, any setting).
Either way the change is validated, committed with its author and history, and published to SSM.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.access import Caller, ScopeKind
from shared.clock import now_iso
from shared.config.changes import apply_merge_patch, changed_settings, leaf_settings, require_customer_writable
from shared.config.documents import Author, ConfigDocuments, HistoryPage, StoredDocument
from shared.config.hierarchy import (
    DEFAULTS_SOURCE,
    ConfigLevel,
    ConfigSource,
    ResolvedConfig,
    first_invalid_setting,
    merge_levels,
)
from shared.errors import AccessDenied, ConfigConflict, ConfigError, InvalidConfigChange, PreconditionFailed
from shared.tenants.registry import TenantRegistry

COMMIT_ATTEMPTS = 5  # without If-Match, a change that lost a race is re-applied to the newer document
TENANT_CACHE_SECONDS = 300  # tenant ancestry never changes once created


@dataclass(frozen=True)
class Ancestry:
    """A tenant and the tenants above it (``None`` where the level is above the tenant)."""

    partner_id: str
    organization_id: str | None = None
    workspace_id: str | None = None

    def chain(self) -> list[tuple[ConfigLevel, str | None]]:
        """The levels a workspace inherits from, from the platform down."""
        return [
            (ConfigLevel.PLATFORM, None),
            (ConfigLevel.PARTNER, self.partner_id),
            (ConfigLevel.ORGANIZATION, self.organization_id),
            (ConfigLevel.WORKSPACE, self.workspace_id),
        ]


class TenantAncestry:
    """Where a partner, organization or workspace sits, cached; ``None`` for an unknown id."""

    def __init__(self, registry: TenantRegistry, ttl_seconds: int = TENANT_CACHE_SECONDS) -> None:
        self._registry = registry
        self._ttl = ttl_seconds
        self._cache: dict[tuple[ConfigLevel, str], tuple[float, Ancestry]] = {}

    def of(self, level: ConfigLevel, tenant_id: str) -> Ancestry | None:
        now = time.monotonic()
        cached = self._cache.get((level, tenant_id))
        if cached and cached[0] > now:
            return cached[1]
        ancestry = self._lookup(level, tenant_id)
        if ancestry is not None:
            self._cache[(level, tenant_id)] = (now + self._ttl, ancestry)
        return ancestry

    def _lookup(self, level: ConfigLevel, tenant_id: str) -> Ancestry | None:
        if level is ConfigLevel.PARTNER:
            partner = self._registry.get_partner(tenant_id)
            return Ancestry(partner_id=partner.partner_id) if partner else None
        if level is ConfigLevel.ORGANIZATION:
            organization = self._registry.get_organization(tenant_id)
            if organization is None:
                return None
            return Ancestry(partner_id=organization.partner_id, organization_id=organization.organization_id)
        if level is ConfigLevel.WORKSPACE:
            workspace = self._registry.get_workspace(tenant_id)
            if workspace is None:
                return None
            return Ancestry(workspace.partner_id, workspace.organization_id, workspace.workspace_id)
        return None


def caller_reaches(caller: Caller, level: ConfigLevel, ancestry: Ancestry) -> bool:
    """True when ``caller``'s scope holds the tenant at ``level``: its own tenant or one below it."""
    if caller.scope is ScopeKind.WORKSPACE:
        return level is ConfigLevel.WORKSPACE and ancestry.workspace_id == caller.scope_id
    if caller.scope is ScopeKind.ORGANIZATION:
        return (
            level in (ConfigLevel.ORGANIZATION, ConfigLevel.WORKSPACE) and ancestry.organization_id == caller.scope_id
        )
    return level is not ConfigLevel.PLATFORM and ancestry.partner_id == caller.scope_id


@dataclass(frozen=True)
class EffectiveSetting:
    value: Any
    level: str  # platform, partner, organization or workspace
    tenant_id: str | None


def effective_settings(resolved: ResolvedConfig, chain: list[tuple[ConfigLevel, str | None]]) -> dict[str, Any]:
    """Every effective value by dotted path, with the level (and tenant) it comes from."""
    ids = {level.value: tenant_id for level, tenant_id in chain}
    default = ConfigSource(level=DEFAULTS_SOURCE)
    settings: dict[str, EffectiveSetting] = {}
    for path, value in leaf_settings(resolved.config.model_dump(mode="json")).items():
        source = resolved.sources.get(path, default)
        level = ConfigLevel.PLATFORM.value if source.level == DEFAULTS_SOURCE else source.level
        settings[path] = EffectiveSetting(value=value, level=level, tenant_id=ids.get(level))
    return settings


def resolve_documents(documents: list[StoredDocument]) -> ResolvedConfig:
    """The effective config of a chain of stored documents (platform first)."""
    return merge_levels([(ConfigSource(level=document.level.value), document.config) for document in documents])


class ConfigService:
    """Config reads and changes for API keys and operators (see the module docstring)."""

    def __init__(self, documents: ConfigDocuments, tenants: TenantAncestry) -> None:
        self.documents = documents
        self.tenants = tenants

    # --- access -----------------------------------------------------------------------------------------------

    def reachable(self, caller: Caller, level: ConfigLevel, tenant_id: str) -> Ancestry:
        """The tenant's ancestry if ``caller`` may read and change its document; unknown ids are refused alike."""
        ancestry = None if level is ConfigLevel.PLATFORM else self.tenants.of(level, tenant_id)
        if ancestry is None or not caller_reaches(caller, level, ancestry):
            raise AccessDenied(f"Your API key has no access to the config of {level} {tenant_id}.")
        return ancestry

    # --- reads ------------------------------------------------------------------------------------------------

    def document(self, caller: Caller, level: ConfigLevel, tenant_id: str) -> StoredDocument:
        self.reachable(caller, level, tenant_id)
        return self.documents.read(level, tenant_id)

    def effective(self, caller: Caller, workspace_id: str) -> dict[str, EffectiveSetting]:
        ancestry = self.reachable(caller, ConfigLevel.WORKSPACE, workspace_id)
        chain = ancestry.chain()
        return effective_settings(resolve_documents(self.documents.read_chain(chain)), chain)

    def history(
        self, caller: Caller, level: ConfigLevel, tenant_id: str, limit: int, start_key: dict[str, Any] | None
    ) -> HistoryPage:
        self.reachable(caller, level, tenant_id)
        return self.documents.history(level, tenant_id, limit, start_key)

    # --- changes ----------------------------------------------------------------------------------------------

    def patch(
        self, caller: Caller, level: ConfigLevel, tenant_id: str, patch: dict[str, Any], if_match: str | None
    ) -> StoredDocument:
        """Apply a JSON Merge Patch for an API key; ``if_match`` is the ``If-Match`` header, if any."""
        self.reachable(caller, level, tenant_id)
        author = Author(scope=caller.scope.value, key_id=caller.key_id)
        return self.change(
            level, tenant_id, lambda config: apply_merge_patch(config, patch), author, if_match, customer=True
        )

    def change(
        self,
        level: ConfigLevel,
        tenant_id: str | None,
        edit: Callable[[dict[str, Any]], dict[str, Any]],
        author: Author,
        if_match: str | None = None,
        *,
        customer: bool,
    ) -> StoredDocument:
        """Commit ``edit`` of the current document as its next version, then publish it; the new document.

        A change that sets nothing new stores nothing and answers the current document.
        """
        for _ in range(COMMIT_ATTEMPTS):
            current = self.documents.read(level, tenant_id)
            if if_match is not None and not etag_matches(if_match, current.etag):
                raise PreconditionFailed(
                    f"If-Match {if_match} is not the current version of this config ({current.etag}); "
                    "read it again and reapply your change."
                )
            config = edit(current.config)
            changes = changed_settings(current.config, config)
            if customer:
                require_customer_writable(changes)
            self.validate(level, tenant_id, config)
            if not changes:
                return current
            committed = self.documents.commit(current, config, author, changes, now_iso())
            if committed is not None:
                self.documents.publish(committed)
                return committed
            if if_match is not None:
                raise PreconditionFailed(
                    f"The config changed while If-Match {if_match} was being applied; read it again and reapply."
                )
        raise ConfigConflict("The config kept changing while this change was being applied; retry it.")

    def validate(self, level: ConfigLevel, tenant_id: str | None, config: dict[str, Any]) -> None:
        """Raise ``InvalidConfigChange`` naming the first invalid setting of a level's document."""
        invalid = first_invalid_setting(level, config)
        if invalid is not None:
            key, message = invalid
            raise InvalidConfigChange(f"Invalid value for {key}: {message}. Nothing was changed.", key=key)
        try:
            self.documents.store.validate_document(level, tenant_id, config)
        except ConfigError as error:  # the size limit: the only check left once every value is valid
            raise InvalidConfigChange(f"{error.detail} Nothing was changed.", key=None) from None


def etag_matches(if_match: str, etag: str) -> bool:
    """RFC 9110 ``If-Match``: ``*`` or a list of entity tags, compared strongly (a weak tag never matches)."""
    tags = [tag.strip() for tag in if_match.split(",")]
    return "*" in tags or etag in tags
