"""Domain errors. Each carries a stable machine-readable code; the API maps classes (never text) to HTTP."""

from __future__ import annotations


class DomainError(Exception):
    """Base class of every error the product reports to a caller or an operator."""

    code = "domain_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class JobNotFound(DomainError):
    code = "job_not_found"


class AccessDenied(DomainError):
    code = "forbidden"


class InvalidStatus(DomainError):
    code = "invalid_status"


class JobNotSkipped(DomainError):
    code = "job_not_skipped"


class InvalidTransition(DomainError):
    code = "invalid_transition"


class RunSuperseded(InvalidTransition):
    """The job was requeued since this run began: the newer requeue owns it, and this run must not touch it."""

    code = "run_superseded"


class UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"


class InvalidCursor(DomainError):
    code = "invalid_cursor"


class WorkspaceRequired(DomainError):
    code = "workspace_required"


class TenantNotFound(DomainError):
    code = "tenant_not_found"


class TenantExists(DomainError):
    code = "tenant_exists"


class ApiKeyNotFound(DomainError):
    code = "api_key_not_found"


class ConfigError(DomainError):
    """A config document that cannot be used. The message names the parameter at fault."""

    code = "config_invalid"
