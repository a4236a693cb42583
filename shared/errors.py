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


class BatchNotFound(DomainError):
    code = "batch_not_found"


class BatchInProgress(DomainError):
    """A workspace of the new batch already has a pending or running batch (one at a time per workspace)."""

    code = "batch_in_progress"

    def __init__(self, workspace_id: str, batch_id: str) -> None:
        super().__init__(
            f"Workspace {workspace_id} has a requeue batch in progress ({batch_id}); "
            "wait for it to finish or cancel it."
        )
        self.workspace_id = workspace_id
        self.batch_id = batch_id


class BatchFinished(DomainError):
    """A change (a cancel) to a batch that has already ended."""

    code = "batch_finished"


class IdempotencyKeyReused(DomainError):
    """An ``Idempotency-Key`` this API key already used for a request with another body."""

    code = "idempotency_key_reused"


class IdempotencyKeyInUse(DomainError):
    """The first request with this ``Idempotency-Key`` is still being processed; retry shortly."""

    code = "idempotency_key_in_use"


class BatchCreationAbandoned(DomainError):
    """The batch's workspace locks were taken over before the batch was stored (its creation outlived the
    takeover delay); nothing of it will run."""

    code = "batch_creation_abandoned"
