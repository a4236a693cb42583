"""Request and response bodies of the config routes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

CustomerLevel = Literal["partner", "organization", "workspace"]


# The API's own copies of the domain's author and change shapes: this module loads at every cold start, the
# config domain (shared.config) only when a config route is first called.
class Author(BaseModel):
    """Who made a change: an API key (its scope and key id) or an operator through the admin command."""

    scope: str = Field(description="`workspace`, `organization` or `partner` (an API key), or `operator`.")
    key_id: str | None = Field(default=None, description="The API key's id; null for an operator.")


class ConfigChange(BaseModel):
    """One setting changed; `null` as `old` or `new` means not set at that level (inherited)."""

    key: str = Field(examples=["processing.filters.min_duration_seconds"])
    old: Any = None
    new: Any = None


class ConfigDocumentBody(BaseModel):
    """The document stored at one level: only the settings set there (the rest inherit)."""

    level: CustomerLevel
    id: str = Field(examples=["ws_main"])
    config: dict[str, Any] = Field(examples=[{"processing": {"filters": {"min_duration_seconds": 10}}}])
    version: int = Field(description="Increases by one with each change; 0: never changed.", examples=[3])
    updated_at: str | None = Field(description="When the current version was stored.")
    updated_by: Author | None = Field(description="Who stored it: an API key, or an operator.")


class SettingSource(BaseModel):
    level: Literal["platform", "partner", "organization", "workspace"]
    id: str | None = Field(description="The tenant's id; null for the platform.")


class EffectiveValue(BaseModel):
    value: Any
    source: SettingSource


class EffectiveConfigBody(BaseModel):
    workspace_id: str
    settings: dict[str, EffectiveValue] = Field(
        description="Every setting by dotted path, with the level that sets it.",
        examples=[
            {
                "processing.filters.min_duration_seconds": {
                    "value": 30,
                    "source": {"level": "platform", "id": None},
                }
            }
        ],
    )


class HistoryEntryBody(BaseModel):
    version: int
    at: str
    author: Author
    changes: list[ConfigChange]


class ConfigHistoryBody(BaseModel):
    changes: list[HistoryEntryBody] = Field(description="Newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null on the last page.")


class PreviewRequest(BaseModel):
    """A change to preview: a JSON Merge Patch of one level the workspace inherits from."""

    level: CustomerLevel
    id: str = Field(max_length=64, examples=["ws_main"])
    patch: dict[str, Any] = Field(examples=[{"processing": {"filters": {"min_duration_seconds": 10}}}])


class ReasonPreview(BaseModel):
    reason: str = Field(
        description="The skip reason without its figures: `duration_below_minimum`, `skip_all_on_ingest`, "
        "`rate_limit`.",
        examples=["duration_below_minimum"],
    )
    skipped: int
    would_pass: int
    would_stay_skipped: int
    sample_job_ids: list[str] = Field(description="Up to 20 of the jobs that would pass.")


class PreviewBody(BaseModel):
    workspace_id: str
    filters_before: dict[str, EffectiveValue]
    filters_after: dict[str, EffectiveValue]
    skipped_jobs: int
    would_pass: int
    would_stay_skipped: int
    by_reason: list[ReasonPreview]
