"""Job statuses, transitions, skip reasons, ids and the requeue message."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from shared.jobs.ids import new_job_id
from shared.jobs.models import TRANSITIONS, JobStatus, SkipReason, can_transition, requeue_message

PIPELINE = [JobStatus.QUEUED, JobStatus.TRANSCRIBING, JobStatus.ANALYZING, JobStatus.PUBLISHING, JobStatus.COMPLETED]


def test_the_pipeline_moves_forward_one_stage_at_a_time() -> None:
    for current, following in itertools.pairwise(PIPELINE):
        assert can_transition(current, following)
        assert not can_transition(following, current)


def test_only_a_requeue_leaves_skipped() -> None:
    assert TRANSITIONS[JobStatus.SKIPPED] == {JobStatus.QUEUED}
    assert can_transition(JobStatus.QUEUED, JobStatus.SKIPPED)
    assert not can_transition(JobStatus.TRANSCRIBING, JobStatus.SKIPPED)


@pytest.mark.parametrize("stage", PIPELINE[:-1])
def test_every_unfinished_stage_can_fail(stage: JobStatus) -> None:
    assert can_transition(stage, JobStatus.FAILED)


def test_finished_jobs_stay_finished() -> None:
    assert TRANSITIONS[JobStatus.COMPLETED] == frozenset()
    assert TRANSITIONS[JobStatus.FAILED] == frozenset()


def test_skip_reasons_are_the_spec_strings() -> None:
    assert SkipReason.SKIP_ALL_ON_INGEST == "skip_all_on_ingest"
    assert SkipReason.RATE_LIMIT == "rate_limit"
    assert SkipReason.duration_below_minimum(12, 30) == "duration_below_minimum:12<30"


def test_requeue_message_is_the_spec_text() -> None:
    assert requeue_message(3) == (
        "Job requeued successfully (requeue #3). Job will be re-validated against current processing filters."
    )


def test_job_ids_are_numeric_safe_integers_that_grow_with_time() -> None:
    earlier = new_job_id(datetime(2026, 6, 1, tzinfo=UTC))
    later = new_job_id(datetime(2026, 6, 1, 0, 0, 1, tzinfo=UTC))
    far_future = new_job_id(datetime(2090, 1, 1, tzinfo=UTC))

    assert earlier.isdigit()
    assert later.isdigit()
    assert int(earlier) < int(later)
    assert int(far_future) < 2**53


def test_job_ids_in_one_millisecond_never_collide_within_a_process() -> None:
    moment = datetime(2026, 11, 28, tzinfo=UTC)
    ids = [int(new_job_id(moment)) for _ in range(500)]
    # A whole batch stamped with one moment: each id is above the last, none repeats.
    assert ids == sorted(set(ids))
    # And the next millisecond still sorts after all of them
    assert int(new_job_id(moment + timedelta(milliseconds=200))) > ids[-1]


def test_job_ids_for_an_earlier_moment_keep_that_moments_order() -> None:
    later = int(new_job_id(datetime(2026, 11, 28, 12, tzinfo=UTC)))
    earlier = int(new_job_id(datetime(2026, 11, 27, 12, tzinfo=UTC)))
    assert earlier < later
