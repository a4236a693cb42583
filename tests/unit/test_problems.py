"""Every error a client can see has a catalogue entry: a stable code, its status and a title."""

from __future__ import annotations

from functions.api.handler import _CLIENT_ERRORS
from shared.problems import PROBLEMS, problem


def test_every_client_error_code_is_in_the_catalogue() -> None:
    for error in _CLIENT_ERRORS:
        assert error.code in PROBLEMS


def test_the_spec_error_rows_have_their_statuses() -> None:
    assert PROBLEMS["invalid_status"][0] == 400
    assert PROBLEMS["job_not_skipped"][0] == 400
    assert PROBLEMS["forbidden"][0] == 403
    assert PROBLEMS["job_not_found"][0] == 404


def test_a_problem_is_rfc_9457_shaped() -> None:
    body = problem("job_not_found", "Job 1 not found.", instance="/api/v1/jobs/1").model_dump(exclude_none=True)

    assert body == {
        "type": "https://analytics-api.gensail.com/problems/job_not_found",
        "title": "Job not found",
        "status": 404,
        "detail": "Job 1 not found.",
        "code": "job_not_found",
        "instance": "/api/v1/jobs/1",
    }
