"""Stage errors. The class name is the Lambda error type the state machine sees, so it decides retry or fail."""

from __future__ import annotations

from shared.errors import DomainError


class TransientStageError(DomainError):
    """Worth retrying with backoff: throttling, timeouts, a provider that is briefly unavailable."""

    code = "transient_stage_error"


class PermanentStageError(DomainError):
    """Retrying cannot help (no transcript, a failed transcription job, invalid provider output): the job fails."""

    code = "permanent_stage_error"


class SupersededRunError(PermanentStageError):
    """The job was requeued while this run was under way: the newer run owns it, so this one stops untouched."""

    code = "superseded_run"


class TranscriptionTimedOut(PermanentStageError):
    """The transcription provider did not finish within the stage's deadline."""

    code = "transcription_timed_out"
