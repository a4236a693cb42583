"""Bodies of the config routes: a level's document, a workspace's effective settings, history and previews."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, PrivateAttr

Level = Literal["partner", "organization", "workspace"]
SourceLevel = Literal["platform", "partner", "organization", "workspace"]


class Author(BaseModel):
    """Who made a change: an API key (its scope and key id) or an operator (``scope`` ``operator``)."""

    scope: str
    key_id: str | None = None


class ConfigDocument(BaseModel):
    """The settings stored at one level (the rest inherit), with its version and ``ETag``."""

    level: Level
    id: str
    config: dict[str, Any]
    version: int
    updated_at: str | None
    updated_by: Author | None
    _etag: str | None = PrivateAttr(default=None)

    @property
    def etag(self) -> str | None:
        """The ``ETag`` header of the answer: pass it as ``if_match`` to change exactly this version."""
        return self._etag


class SettingSource(BaseModel):
    """The level of the hierarchy that sets a value (``id`` is null for the platform)."""

    level: SourceLevel
    id: str | None


class EffectiveValue(BaseModel):
    """A setting's value as the workspace sees it, and where it comes from."""

    value: Any
    source: SettingSource


class EffectiveConfig(BaseModel):
    """Every effective setting of a workspace, by dotted path."""

    workspace_id: str
    settings: dict[str, EffectiveValue]


class ConfigChange(BaseModel):
    """One setting changed by a write; ``None`` as ``old`` or ``new`` means not set at that level."""

    key: str
    old: Any = None
    new: Any = None


class HistoryEntry(BaseModel):
    """One version of a level's document: when, who, and what changed."""

    version: int
    at: str
    author: Author
    changes: list[ConfigChange]


class ConfigHistory(BaseModel):
    """One page of a level's changes, newest first."""

    changes: list[HistoryEntry]
    next_cursor: str | None


class PreviewRequest(BaseModel):
    """A change to preview: a JSON Merge Patch of one level the workspace inherits from."""

    level: Level
    id: str
    patch: dict[str, Any]


class ReasonPreview(BaseModel):
    """For one skip reason: how many skipped jobs would pass after the change, with a sample of their ids."""

    reason: str
    skipped: int
    would_pass: int
    would_stay_skipped: int
    sample_job_ids: list[str]


class ConfigPreview(BaseModel):
    """What a change would do to a workspace: its filters before and after, and its skipped jobs."""

    workspace_id: str
    filters_before: dict[str, EffectiveValue]
    filters_after: dict[str, EffectiveValue]
    skipped_jobs: int
    would_pass: int
    would_stay_skipped: int
    by_reason: list[ReasonPreview]
