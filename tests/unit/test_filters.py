"""The minimum-duration filter and the spec's skip reason format."""

from __future__ import annotations

import pytest

from shared.config.hierarchy import ConfigSource, merge_levels
from shared.jobs.models import JobStatus
from shared.processing.filters import skip_reason
from shared.tenants.registry import Workspace
from tests.support.factories import make_job

WORKSPACE = Workspace(workspace_id="w", organization_id="o", partner_id="p", name="W", created_at="2026")


def _config(minimum: int | None):
    documents = []
    if minimum is not None:
        documents.append(
            (ConfigSource(level="workspace"), {"processing": {"filters": {"min_duration_seconds": minimum}}})
        )
    return merge_levels(documents).config


@pytest.mark.parametrize(
    ("duration", "minimum", "expected"),
    [
        (12, None, "duration_below_minimum:12<30"),
        (29, None, "duration_below_minimum:29<30"),
        (30, None, None),
        (12, 10, None),
        (12, 45, "duration_below_minimum:12<45"),
        (0, 0, None),
    ],
)
def test_minimum_duration(duration: int, minimum: int | None, expected: str | None) -> None:
    job = make_job(WORKSPACE, status=JobStatus.QUEUED, duration=duration)

    assert skip_reason(job, _config(minimum)) == expected


def test_an_unknown_duration_counts_as_zero() -> None:
    job = make_job(WORKSPACE, status=JobStatus.QUEUED).model_copy(update={"duration_seconds": None})

    assert skip_reason(job, _config(None)) == "duration_below_minimum:0<30"
    assert skip_reason(job, _config(0)) is None
