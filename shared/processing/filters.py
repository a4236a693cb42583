"""Processing filters, evaluated before transcription against the workspace's current effective config."""

from __future__ import annotations

from shared.config.model import EffectiveConfig
from shared.jobs.models import Job, SkipReason


def skip_reason(job: Job, config: EffectiveConfig) -> str | None:
    """Why ``job`` must be skipped under ``config``, or ``None`` when it passes every filter.

    A call whose duration is unknown counts as 0 seconds: it passes only a minimum of 0.
    """
    return skip_reason_for_call(job.duration_seconds, config)


def skip_reason_for_call(duration_seconds: int | None, config: EffectiveConfig) -> str | None:
    """``skip_reason`` from the only job fields the filters read (a preview reads just these)."""
    minimum = config.processing.filters.min_duration_seconds
    actual = duration_seconds or 0
    if actual < minimum:
        return SkipReason.duration_below_minimum(actual, minimum)
    return None
