"""The CallRail sample server: documented shapes, keys, sample labelling, determinism and arrivals."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support.callrail_faults import FaultyCallRailServer as CallRailSampleServer
from tests.unit.callrail.conftest import ACCOUNT, API_KEY, WINDOW_END, WINDOW_START

AUTH = {"Authorization": f'Token token="{API_KEY}"'}
WINDOW = {"start_date": WINDOW_START.isoformat(), "end_date": WINDOW_END.isoformat()}


def _get(server: CallRailSampleServer, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"{server.url}{path}", params=params, headers=AUTH, timeout=5)


def test_offset_paging_answers_the_documented_keys(server: CallRailSampleServer) -> None:
    response = _get(server, f"/a/{ACCOUNT}/calls.json", **WINDOW, per_page="15", page="3")

    body = response.json()
    assert response.headers["X-Sample-Data"] == "true"
    assert {key: body[key] for key in ("page", "per_page", "total_pages", "total_records")} == {
        "page": 3,
        "per_page": 15,
        "total_pages": 3,
        "total_records": 40,
    }
    assert len(body["calls"]) == 10


def test_relative_paging_answers_a_full_next_page_url(server: CallRailSampleServer) -> None:
    body = _get(server, f"/a/{ACCOUNT}/calls.json", **WINDOW, per_page="30", relative_pagination="true").json()

    assert body["has_next_page"] is True
    assert body["next_page"].startswith(f"{server.url}/a/{ACCOUNT}/calls.json?")
    assert "total_pages" not in body
    last = httpx.get(body["next_page"], headers=AUTH, timeout=5).json()
    assert last["has_next_page"] is False
    assert last["next_page"] is None
    assert len(body["calls"]) + len(last["calls"]) == 40


def test_default_order_is_newest_first_and_fields_add_extras(server: CallRailSampleServer) -> None:
    calls = _get(server, f"/a/{ACCOUNT}/calls.json", **WINDOW).json()["calls"]
    starts = [datetime.fromisoformat(call["start_time"]) for call in calls]
    assert starts == sorted(starts, reverse=True)
    assert "company_id" not in calls[0]
    assert "transcription" not in calls[0]

    with_fields = _get(server, f"/a/{ACCOUNT}/calls.json", **WINDOW, fields="company_id,transcription").json()
    assert {"company_id", "transcription", "recording", "duration"} <= set(with_fields["calls"][0])


def test_calls_are_labelled_sample_data(server: CallRailSampleServer) -> None:
    for call in server.calls(ACCOUNT):
        assert call["id"].startswith("CAL")
        assert call["customer_name"].startswith("Sample Caller ")
        assert call["customer_phone_number"].startswith("+1555555")
        assert "SAMPLE DATA" in call["note"]


def test_unanswered_calls_are_missed_calls_without_talk_time(server: CallRailSampleServer) -> None:
    calls = server.calls(ACCOUNT)
    unanswered = [call for call in calls if not call["answered"]]
    answered = [call for call in calls if call["answered"]]

    # A missed call has nothing to record or transcribe, so any duration filter skips it
    assert unanswered
    for call in unanswered:
        assert (call["duration"], call["recording_duration"]) == (0, None)
        assert (call["recording"], call["transcription"], call["voicemail"]) == (None, None, False)
    assert all(5 <= call["duration"] <= 600 and call["recording"] and call["transcription"] for call in answered)


def test_no_call_ends_after_now() -> None:
    # Given a server whose clock stands still, an account whose calls started over the last ten minutes and
    # calls arriving now
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    with CallRailSampleServer(clock=lambda: now) as server:
        server.add_account(ACCOUNT, API_KEY, calls=100, span=timedelta(minutes=10))
        arrived = server.add_calls(ACCOUNT, 5)
        calls = server.calls(ACCOUNT)

    # Then every call has ended by now: one that would still be going started earlier
    ends = [datetime.fromisoformat(call["start_time"]) + timedelta(seconds=call["duration"]) for call in calls]
    assert max(ends) <= now
    assert any(call["duration"] > 60 for call in arrived + calls)


def test_the_same_seed_generates_the_same_calls() -> None:
    with CallRailSampleServer() as one, CallRailSampleServer() as two:
        one.add_account(ACCOUNT, "a", end=WINDOW_END, seed=7)
        two.add_account(ACCOUNT, "b", end=WINDOW_END, seed=7)
        three_ids = two.add_account("ACC000000002", "c", end=WINDOW_END, seed=7)

        def strip(records: list[dict[str, object]]) -> list[dict[str, object]]:
            return [
                {k: v for k, v in record.items() if k not in {"recording", "recording_player"}} for record in records
            ]

        assert strip(one.calls(ACCOUNT)) == strip(two.calls(ACCOUNT))
        assert three_ids != two.company_ids(ACCOUNT)


@pytest.mark.parametrize(
    "authorization", [None, 'Token token="wrong"', f"Bearer {API_KEY}", f'Token token="{API_KEY}x"']
)
def test_requests_without_the_accounts_key_are_refused(server: CallRailSampleServer, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.get(f"{server.url}/a/{ACCOUNT}/calls.json", headers=headers, timeout=5)
    assert response.status_code == 401


def test_bad_parameters_are_400(server: CallRailSampleServer) -> None:
    assert _get(server, f"/a/{ACCOUNT}/calls.json", start_date="yesterday").status_code == 400
    assert _get(server, f"/a/{ACCOUNT}/calls.json", sort="nonsense").status_code == 400
    assert _get(server, f"/a/{ACCOUNT}/calls.json", page="0").status_code == 400


def test_a_bare_date_means_the_whole_day_in_the_accounts_time_zone(server: CallRailSampleServer) -> None:
    day = "2024-04-30"  # the window runs from 08:00 that day to 07:00 the next, at UTC-05:00
    body = _get(server, f"/a/{ACCOUNT}/calls.json", start_date=day, end_date=day, per_page="250").json()
    local_days = {datetime.fromisoformat(call["start_time"]).date().isoformat() for call in body["calls"]}
    assert local_days <= {day}
    assert body["total_records"] == len(body["calls"]) > 0


def test_recording_json_points_at_loopback_audio(server: CallRailSampleServer) -> None:
    answered = next(call for call in server.calls(ACCOUNT) if call["answered"])

    location = httpx.get(answered["recording"], headers=AUTH, timeout=5).json()["url"]
    audio = httpx.get(location, timeout=5)

    assert location.startswith("http://127.0.0.1:")
    assert audio.headers["Content-Type"] == "audio/wav"
    assert audio.content.startswith(b"RIFF")
    unanswered = next(call for call in server.calls(ACCOUNT) if not call["answered"])
    assert unanswered["recording"] is None
    assert _get(server, f"/a/{ACCOUNT}/calls/{unanswered['id']}/recording.json").status_code == 404


def test_injected_failures_are_used_in_order_then_normal_service_resumes(server: CallRailSampleServer) -> None:
    server.fail_next(ACCOUNT, status=429, retry_after=30)
    server.fail_next(ACCOUNT, status=500)
    server.malformed_next(ACCOUNT)

    first = _get(server, f"/a/{ACCOUNT}/calls.json", **WINDOW)
    assert (first.status_code, first.headers["Retry-After"]) == (429, "30")
    assert _get(server, f"/a/{ACCOUNT}/calls.json", **WINDOW).status_code == 500
    with pytest.raises(json.JSONDecodeError):
        _get(server, f"/a/{ACCOUNT}/calls.json", **WINDOW).json()
    assert _get(server, f"/a/{ACCOUNT}/calls.json", **WINDOW).status_code == 200
    assert [request.status for request in server.requests] == [429, 500, 200, 200]


def test_new_calls_arrive_in_the_background() -> None:
    with CallRailSampleServer(arrival_every_seconds=0.05, max_arrivals=3) as server:
        server.add_account(ACCOUNT, API_KEY, calls=0)
        deadline = time.monotonic() + 3
        while len(server.calls(ACCOUNT)) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.15)

        arrived = server.calls(ACCOUNT)
    assert len(arrived) == 3  # bounded by max_arrivals
    now = datetime.now(UTC)
    ends = [datetime.fromisoformat(call["start_time"]) + timedelta(seconds=call["duration"]) for call in arrived]
    assert all(timedelta(0) <= now - end < timedelta(seconds=10) for end in ends)  # calls that just ended


def test_the_server_only_binds_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        CallRailSampleServer(host="0.0.0.0")  # noqa: S104 -- the point of the test
