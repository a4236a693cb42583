"""Every problem code of the API's catalogue raises its own exception class, carrying the problem's fields."""

from __future__ import annotations

import httpx
import pytest
from gensail import Gensail, RetryPolicy
from gensail import errors as sdk_errors

from shared.problems import PROBLEMS, ValidationIssue, problem


def _client(answer: httpx.Response) -> Gensail:
    return Gensail(
        api_key="gsk_test",
        base_url="https://api.test",
        transport=httpx.MockTransport(lambda _: answer),
        retry=RetryPolicy(max_attempts=1),
    )


def test_every_catalogue_code_has_its_class() -> None:
    missing = set(PROBLEMS) - set(sdk_errors.ERRORS_BY_CODE)
    unknown_to_the_api = set(sdk_errors.ERRORS_BY_CODE) - set(PROBLEMS)

    assert not missing, f"add an exception class to gensail.errors for: {sorted(missing)}"
    assert not unknown_to_the_api, f"the API has no such codes: {sorted(unknown_to_the_api)}"


@pytest.mark.parametrize("code", sorted(PROBLEMS))
def test_each_problem_raises_its_class_with_its_fields(code: str) -> None:
    # Given an answer with that problem
    issues = [ValidationIssue(location="body.status", message="Field required")]
    body = problem(code, f"detail of {code}", instance="/api/v1/jobs/1/status", errors=issues)
    status = PROBLEMS[code][0]
    answer = httpx.Response(
        status, content=body.model_dump_json(), headers={"Content-Type": "application/problem+json"}
    )

    # When the client gets it
    with _client(answer) as client, pytest.raises(sdk_errors.APIError) as raised:
        client.jobs.get("1")

    # Then it raises the code's class, a subclass of its status's class, with every field of the problem
    error = raised.value
    assert type(error) is sdk_errors.ERRORS_BY_CODE[code]
    assert isinstance(error, sdk_errors.error_class(status, None))
    assert (error.status, error.code, error.title, error.detail) == (status, code, body.title, body.detail)
    assert (error.type, error.instance) == (body.type, "/api/v1/jobs/1/status")
    assert [(issue.location, issue.message) for issue in error.errors] == [("body.status", "Field required")]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, sdk_errors.BadRequestError),
        (403, sdk_errors.PermissionDeniedError),
        (409, sdk_errors.ConflictError),
        (418, sdk_errors.APIError),
        (503, sdk_errors.ServiceUnavailableError),
        (504, sdk_errors.InternalServerError),
    ],
)
def test_unknown_codes_map_by_status(status: int, expected: type[sdk_errors.APIError]) -> None:
    body = {"type": "about:blank", "title": "New", "status": status, "detail": "a code from the future", "code": "new"}

    with _client(httpx.Response(status, json=body)) as client, pytest.raises(sdk_errors.APIError) as raised:
        client.jobs.get("1")

    assert type(raised.value) is expected
    assert (raised.value.code, raised.value.detail) == ("new", "a code from the future")


def test_an_answer_without_a_problem_body_keeps_its_status_and_text() -> None:
    with _client(httpx.Response(502, text="Bad Gateway")) as client, pytest.raises(sdk_errors.APIError) as raised:
        client.jobs.get("1")

    assert type(raised.value) is sdk_errors.InternalServerError
    assert (raised.value.status, raised.value.code, raised.value.detail) == (502, None, "Bad Gateway")
