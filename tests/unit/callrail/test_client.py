"""The CallRail client against the sample server on loopback: paging, filters, failures, and the key's secrecy."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import ValidationError

from shared.callrail.client import (
    CallRailClient,
    CallRailError,
    CallRailRateLimited,
    CallRailRejected,
    CallRailUnavailable,
    CallRecord,
    InvalidCall,
    Paging,
    longest_page_seconds,
)
from tests.support.callrail_faults import FaultyCallRailServer as CallRailSampleServer
from tests.unit.callrail.conftest import ACCOUNT, API_KEY, WINDOW_END, WINDOW_START

MakeClient = Callable[..., CallRailClient]


def _valid(items: list[CallRecord | InvalidCall]) -> list[CallRecord]:
    return [item for item in items if isinstance(item, CallRecord)]


@pytest.mark.parametrize("paging", ["relative", "offset"])
def test_every_call_in_the_window_arrives_once_in_ascending_start_time(
    server: CallRailSampleServer, make_client: MakeClient, paging: Paging
) -> None:
    # Given 40 calls in the window, read 7 per page
    expected = server.calls(ACCOUNT, start=WINDOW_START, end=WINDOW_END)
    assert len(expected) == 40

    # When the client lists the window
    got = list(make_client().iter_calls(ACCOUNT, WINDOW_START, WINDOW_END, per_page=7, paging=paging))

    # Then every call comes exactly once, in order, with the fields the contract needs
    calls = _valid(got)
    assert len(calls) == len(got)
    assert [call.id for call in calls] == [record["id"] for record in expected]
    starts = [call.start_time for call in calls]
    assert starts == sorted(starts)
    assert server.request_count(ACCOUNT, path_suffix="calls.json") == 6  # ceil(40 / 7)
    first = calls[0]
    assert first.company_id in server.company_ids(ACCOUNT)
    assert first.start_time.utcoffset() == timedelta(hours=-5)
    answered = [call for call in calls if call.answered]
    assert answered
    assert all(call.recording and call.recording.endswith("/recording.json") for call in answered)
    assert all(call.transcription and call.transcription.startswith("Agent:") for call in answered)


def test_the_client_asks_for_the_documented_parameters(server: CallRailSampleServer, make_client: MakeClient) -> None:
    list(make_client().iter_calls(ACCOUNT, WINDOW_START, WINDOW_END, company_id="COM1"))

    query = server.requests[0].query
    assert query["start_date"] == ["2024-04-30T12:00:00+00:00"]
    assert query["end_date"] == ["2024-05-01T12:00:00+00:00"]
    assert query["fields"] == ["company_id,transcription"]
    assert query["per_page"] == ["250"]
    assert query["sort"] == ["start_time"]
    assert query["order"] == ["asc"]
    assert query["relative_pagination"] == ["true"]
    assert query["company_id"] == ["COM1"]


@pytest.mark.parametrize("paging", ["relative", "offset"])
def test_window_bounds_are_inclusive(server: CallRailSampleServer, make_client: MakeClient, paging: Paging) -> None:
    # Given calls exactly on each bound and one second outside each
    start = WINDOW_END + timedelta(hours=1)
    end = start + timedelta(minutes=10)
    before = server.add_calls(ACCOUNT, 1, at=start - timedelta(seconds=1))
    on_start = server.add_calls(ACCOUNT, 1, at=start)
    on_end = server.add_calls(ACCOUNT, 1, at=end)
    after = server.add_calls(ACCOUNT, 1, at=end + timedelta(seconds=1))

    ids = [call.id for call in _valid(list(make_client().iter_calls(ACCOUNT, start, end, per_page=1, paging=paging)))]

    assert ids == [on_start[0]["id"], on_end[0]["id"]]
    assert before[0]["id"] not in ids
    assert after[0]["id"] not in ids


def test_an_empty_window_yields_nothing(server: CallRailSampleServer, make_client: MakeClient) -> None:
    start = WINDOW_END + timedelta(days=3)
    styles: tuple[Paging, ...] = ("relative", "offset")
    for paging in styles:
        assert list(make_client().iter_calls(ACCOUNT, start, start + timedelta(hours=1), paging=paging)) == []


def test_company_filter_returns_only_that_companys_calls(server: CallRailSampleServer, make_client: MakeClient) -> None:
    company = server.company_ids(ACCOUNT)[1]
    expected = [record["id"] for record in server.calls(ACCOUNT, company_id=company)]
    assert 0 < len(expected) < 40

    calls = _valid(list(make_client().iter_calls(ACCOUNT, WINDOW_START, WINDOW_END, company_id=company, per_page=5)))

    assert [call.id for call in calls] == expected
    assert {call.company_id for call in calls} == {company}


def test_429_raises_rate_limited_at_once_with_retry_after(
    server: CallRailSampleServer, make_client: MakeClient, sleeps: list[float]
) -> None:
    server.fail_next(ACCOUNT, status=429, retry_after=120)

    with pytest.raises(CallRailRateLimited) as caught:
        list(make_client().iter_calls(ACCOUNT, WINDOW_START, WINDOW_END))

    assert caught.value.retry_after == 120
    assert server.request_count(ACCOUNT) == 1  # not retried
    assert sleeps == []


def test_429_mid_window_keeps_the_calls_already_read(server: CallRailSampleServer, make_client: MakeClient) -> None:
    # Given a poll that has read the first page
    calls = make_client().iter_calls(ACCOUNT, WINDOW_START, WINDOW_END, per_page=10)
    first_page = [next(calls) for _ in range(10)]

    # When the next page is rate limited
    server.fail_next(ACCOUNT, status=429)
    with pytest.raises(CallRailRateLimited):
        next(calls)

    # Then the calls read so far are the ten earliest, which the poller may store and advance over
    expected = server.calls(ACCOUNT, start=WINDOW_START, end=WINDOW_END)[:10]
    assert [call.id for call in _valid(first_page)] == [record["id"] for record in expected]


def test_two_500s_then_success_is_retried_with_exponential_backoff(
    server: CallRailSampleServer, make_client: MakeClient, sleeps: list[float]
) -> None:
    server.fail_next(ACCOUNT, status=500, times=2)

    calls = list(make_client(backoff_seconds=0.25).iter_calls(ACCOUNT, WINDOW_START, WINDOW_END))

    assert len(calls) == 40
    assert sleeps == [0.25, 0.5]
    assert [request.status for request in server.requests] == [500, 500, 200]


def test_persistent_503_is_unavailable_after_the_attempts(
    server: CallRailSampleServer, make_client: MakeClient, sleeps: list[float]
) -> None:
    server.fail_next(ACCOUNT, status=503, times=10)

    with pytest.raises(CallRailUnavailable, match="after 4 attempts: HTTP 503"):
        list(make_client(attempts=4).iter_calls(ACCOUNT, WINDOW_START, WINDOW_END))

    assert server.request_count(ACCOUNT) == 4
    assert len(sleeps) == 3


def test_a_bad_key_is_rejected_without_retry(server: CallRailSampleServer, make_client: MakeClient) -> None:
    with pytest.raises(CallRailRejected) as caught:
        list(make_client(api_key="wrong-key-987").iter_calls(ACCOUNT, WINDOW_START, WINDOW_END))

    assert caught.value.status == 401
    assert "Access denied" in caught.value.message
    assert server.request_count(ACCOUNT) == 1


def test_an_unknown_account_is_rejected(server: CallRailSampleServer, make_client: MakeClient) -> None:
    with pytest.raises(CallRailRejected) as caught:
        list(make_client().iter_calls("ACC999999999", WINDOW_START, WINDOW_END))
    assert caught.value.status == 404


@pytest.mark.parametrize("paging", ["relative", "offset"])
def test_a_malformed_record_is_yielded_as_invalid_and_the_rest_continue(
    server: CallRailSampleServer, make_client: MakeClient, paging: Paging
) -> None:
    bad_duration = server.add_malformed_call(ACCOUNT, at=WINDOW_START + timedelta(minutes=1), defect="duration")
    no_id = server.add_malformed_call(ACCOUNT, at=WINDOW_START + timedelta(minutes=2), defect="id")

    got = list(make_client().iter_calls(ACCOUNT, WINDOW_START, WINDOW_END, per_page=9, paging=paging))

    invalid = [item for item in got if isinstance(item, InvalidCall)]
    assert len(invalid) == 2
    assert invalid[0].raw["id"] == bad_duration["id"]
    assert invalid[0].raw["duration"] == "abc"
    assert invalid[0].error.startswith("duration:")
    assert "id" not in invalid[1].raw
    assert invalid[1].raw["customer_name"] == no_id["customer_name"]
    assert invalid[1].error.startswith("id:")
    assert len(_valid(got)) == 40


def test_a_malformed_page_is_retried(server: CallRailSampleServer, make_client: MakeClient) -> None:
    server.malformed_next(ACCOUNT)

    assert len(list(make_client().iter_calls(ACCOUNT, WINDOW_START, WINDOW_END))) == 40
    assert server.request_count(ACCOUNT) == 2


def test_a_page_malformed_every_time_is_unavailable(server: CallRailSampleServer, make_client: MakeClient) -> None:
    server.malformed_next(ACCOUNT, times=3)

    with pytest.raises(CallRailUnavailable, match="malformed JSON"):
        list(make_client().iter_calls(ACCOUNT, WINDOW_START, WINDOW_END))


def test_one_slow_response_is_retried(server: CallRailSampleServer, make_client: MakeClient) -> None:
    server.slow_next(ACCOUNT, 0.6)

    calls = list(make_client(timeout=httpx.Timeout(0.2)).iter_calls(ACCOUNT, WINDOW_START, WINDOW_END))

    assert len(calls) == 40


def test_slow_responses_beyond_the_timeout_end_unavailable(
    server: CallRailSampleServer, make_client: MakeClient
) -> None:
    server.slow_next(ACCOUNT, 0.6, times=3)
    client = make_client(timeout=httpx.Timeout(0.2), attempts=3)

    began = time.monotonic()
    with pytest.raises(CallRailUnavailable, match="timeout"):
        list(client.iter_calls(ACCOUNT, WINDOW_START, WINDOW_END))

    assert time.monotonic() - began < 1.5  # three 0.2 s timeouts, not three 0.6 s answers


def test_one_page_never_takes_longer_than_longest_page_seconds() -> None:
    # Given an API where every attempt connects at the last moment and then answers nothing until the read timeout
    elapsed: list[float] = []

    def api(request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions["timeout"]
        elapsed.append(timeouts["connect"] + timeouts["read"])
        raise httpx.ReadTimeout("no answer", request=request)

    client = CallRailClient(
        "https://api.example/v3", "key", httpx.Client(transport=httpx.MockTransport(api)), sleep=elapsed.append
    )

    # When one page is asked for with the default settings
    with pytest.raises(CallRailUnavailable, match="3 attempts"):
        list(client.iter_calls(ACCOUNT, WINDOW_START, WINDOW_END))

    # Then the attempts and the backoffs between them add up to the bound the workspace poller keeps in reserve
    assert len(elapsed) == 5  # three attempts, two backoffs
    assert sum(elapsed) == longest_page_seconds()


def test_the_key_never_appears_in_errors(server: CallRailSampleServer, make_client: MakeClient) -> None:
    errors: list[CallRailError] = []
    scenarios: list[tuple[Callable[[], None], dict[str, object]]] = [
        (lambda: server.fail_next(ACCOUNT, status=429), {}),
        (lambda: server.fail_next(ACCOUNT, status=503, times=3), {}),
        (lambda: server.slow_next(ACCOUNT, 0.5, times=3), {"timeout": httpx.Timeout(0.1)}),
        (lambda: None, {"api_key": API_KEY + "x"}),
    ]
    for inject, options in scenarios:
        server.clear_failures(ACCOUNT)
        inject()
        with pytest.raises(CallRailError) as caught:
            list(make_client(**options).iter_calls(ACCOUNT, WINDOW_START, WINDOW_END))
        errors.append(caught.value)

    assert [type(error) for error in errors] == [
        CallRailRateLimited,
        CallRailUnavailable,
        CallRailUnavailable,
        CallRailRejected,
    ]
    for error in errors:
        assert API_KEY not in str(error)
        assert API_KEY not in repr(error)
        assert API_KEY not in repr(vars(error))


def test_a_key_echoed_by_the_api_is_redacted() -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"error": f"key {request.headers['Authorization']} lacks access"})

    client = CallRailClient(
        "https://api.example/v3", "secret-key-123", httpx.Client(transport=httpx.MockTransport(echo))
    )
    with pytest.raises(CallRailRejected) as caught:
        list(client.iter_calls(ACCOUNT, WINDOW_START, WINDOW_END))

    assert caught.value.status == 403
    assert "secret-key-123" not in str(caught.value)
    assert "[redacted]" in caught.value.message


def test_next_page_elsewhere_is_never_followed() -> None:
    hosts: list[str] = []

    def api(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        return httpx.Response(
            200, json={"calls": [], "has_next_page": True, "next_page": "https://evil.example/v3/a/ACC/calls.json"}
        )

    client = CallRailClient(
        "https://api.example/v3", "secret-key-123", httpx.Client(transport=httpx.MockTransport(api))
    )
    with pytest.raises(CallRailUnavailable, match="outside"):
        list(client.iter_calls(ACCOUNT, WINDOW_START, WINDOW_END))

    assert hosts == ["api.example"]


def test_next_page_keeps_filters_it_dropped() -> None:
    queries: list[httpx.QueryParams] = []

    def api(request: httpx.Request) -> httpx.Response:
        queries.append(request.url.params)
        more = len(queries) == 1
        next_page = "https://api.example/v3/a/ACC/calls.json?relative_pagination=true&offset=1"
        return httpx.Response(200, json={"calls": [], "has_next_page": more, "next_page": next_page if more else None})

    client = CallRailClient("https://api.example/v3", "k", httpx.Client(transport=httpx.MockTransport(api)))
    list(client.iter_calls(ACCOUNT, WINDOW_START, WINDOW_END, company_id="COM1"))

    assert queries[1]["offset"] == "1"
    assert queries[1]["fields"] == "company_id,transcription"
    assert queries[1]["company_id"] == "COM1"
    assert queries[1]["start_date"] == queries[0]["start_date"]


def test_a_next_page_loop_is_bounded() -> None:
    requests: list[str] = []

    def api(request: httpx.Request) -> httpx.Response:
        requests.append(str(request.url))
        next_page = f"https://api.example/v3/a/ACC/calls.json?offset={len(requests)}"
        return httpx.Response(200, json={"calls": [], "has_next_page": True, "next_page": next_page})

    client = CallRailClient(
        "https://api.example/v3", "k", httpx.Client(transport=httpx.MockTransport(api)), max_pages=5
    )
    with pytest.raises(CallRailUnavailable, match="after 5 pages"):
        list(client.iter_calls(ACCOUNT, WINDOW_START, WINDOW_END))

    assert len(requests) == 5


def test_invalid_arguments_are_refused_before_any_request() -> None:
    def no_request(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"unexpected request to {request.url}")

    client = CallRailClient("https://api.example/v3", "k", httpx.Client(transport=httpx.MockTransport(no_request)))
    naive = datetime(2024, 5, 1, 12)
    with pytest.raises(ValueError, match="timezone-aware"):
        list(client.iter_calls(ACCOUNT, naive, WINDOW_END))
    with pytest.raises(ValueError, match="per_page"):
        list(client.iter_calls(ACCOUNT, WINDOW_START, WINDOW_END, per_page=251))
    with pytest.raises(ValueError, match="after end"):
        list(client.iter_calls(ACCOUNT, WINDOW_END, WINDOW_START))


def test_call_record_validation() -> None:
    base = {"id": "CAL1", "start_time": "2024-05-01T08:00:00.123-04:00", "duration": 31, "unknown": "ignored"}

    record = CallRecord.model_validate(base)
    assert record.start_time == datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)
    assert record.transcription is None
    with pytest.raises(ValidationError):
        CallRecord.model_validate({**base, "duration": -1})
    with pytest.raises(ValidationError):
        CallRecord.model_validate({**base, "start_time": "2024-05-01T08:00:00"})  # no offset
    with pytest.raises(ValidationError):
        CallRecord.model_validate({**base, "id": ""})
