"""Processing filters, evaluated before transcription against the workspace's current effective config."""

from __future__ import annotations

from shared.config.model import EffectiveConfig
from shared.jobs.models import Job, SkipReason


def skip_reason(job: Job, config: EffectiveConfig) -> str | None:
    """Why ``job`` must be skipped under ``config``, or ``None`` when it passes every filter.

    A call whose duration is unknown counts as 0 seconds: it passes only a minimum of 0.
    """
    minimum = config.processing.filters.min_duration_seconds
    actual = job.duration_seconds or 0
    if actual < minimum:
        return SkipReason.duration_below_minimum(actual, minimum)
    return None
