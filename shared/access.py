"""Who is calling and what they may touch: API key scopes over the tenant hierarchy."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class ScopeKind(StrEnum):
    """The level of the tenant hierarchy an API key is bound to."""

    WORKSPACE = "workspace"
    ORGANIZATION = "organization"
    PARTNER = "partner"


# The job and workspace attribute that holds the id of each scope's tenant.
SCOPE_ATTRIBUTE: dict[ScopeKind, str] = {
    ScopeKind.WORKSPACE: "workspace_id",
    ScopeKind.ORGANIZATION: "organization_id",
    ScopeKind.PARTNER: "partner_id",
}


class TenantPath(BaseModel):
    """Where a workspace (and everything in it) sits in the hierarchy."""

    model_config = ConfigDict(frozen=True)

    partner_id: str
    organization_id: str
    workspace_id: str


class Caller(BaseModel):
    """An authenticated API key: its scope and the id of the tenant it is scoped to."""

    model_config = ConfigDict(frozen=True)

    scope: ScopeKind
    scope_id: str
    key_id: str

    @property
    def scope_attribute(self) -> str:
        return SCOPE_ATTRIBUTE[self.scope]

    def covers(self, path: TenantPath) -> bool:
        """True when this caller may read and change jobs of the workspace at ``path``."""
        return bool(getattr(path, self.scope_attribute) == self.scope_id)

    def covers_item(self, item: dict[str, object]) -> bool:
        """Same as :meth:`covers` for a stored job or workspace record."""
        return item.get(self.scope_attribute) == self.scope_id
