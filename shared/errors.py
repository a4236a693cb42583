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


class SettingNotWritable(DomainError):
    """A change to a setting that only operators may make (through the admin command)."""

    code = "setting_not_writable"


class PreconditionFailed(DomainError):
    """``If-Match`` named a version of a config document that is no longer the current one."""

    code = "precondition_failed"


class InvalidConfigChange(DomainError):
    """A config change that would store an invalid value; nothing of it is stored. ``key`` names the setting."""

    code = "validation_error"

    def __init__(self, detail: str, key: str | None) -> None:
        super().__init__(detail)
        self.key = key


class ConfigConflict(DomainError):
    """Concurrent writers kept changing a config document; the change was not stored (retry it)."""

    code = "config_conflict"
