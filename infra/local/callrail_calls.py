"""The SAMPLE calls the CallRail sample server (:mod:`infra.local.callrail_sample`) serves: how each is generated
(deterministically per account), stored, sorted and filtered, and the query parameters that pick them.

SAMPLE DATA: every call it serves is generated, deterministically per account (seeded), and labelled as such:
callers are named "Sample Caller <n>", phone numbers are in the fictional +1 555-555-01XX range, each call's
``note`` says it is sample data and every response carries ``X-Sample-Data: true``. Nothing here talks to CallRail.
About one call in five was not answered: like a real missed call it has ``duration`` 0, no recording and no
transcript. Every call has ended by the server's "now" (``start_time`` + ``duration``); a call asked for at a
moment too recent for its length starts that much earlier.

``GET /v3/a/{account_id}/calls.json`` (the shapes of the CallRail API v3 documentation):
``start_date`` / ``end_date`` (ISO 8601, both bounds inclusive; a date alone means that whole day, a time without
offset is in the account's time zone; without them the last 7 days), ``per_page`` (default 100, at most 250),
``sort`` (``start_time``, ``duration``, ``customer_name``; default ``start_time``) and ``order`` (default ``desc``),
``company_id``, ``fields`` (the default call fields, plus ``company_id``, ``company_name``, ``transcription``,
``note``, ``source``, ``tags``, ``lead_status`` when named). Offset paging (``page``) answers ``page``,
``per_page``, ``total_pages``, ``total_records``, ``calls``; relative paging (``relative_pagination=true``,
``offset`` = 0-based page) answers ``per_page``, ``has_next_page``, ``next_page`` (a full URL with the same filters,
or null) and ``calls``.
"""

from __future__ import annotations

import io
import math
import random
import re
import struct
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 250
DEFAULT_RANGE = timedelta(days=7)
_DEFAULT_FIELDS = (
    "answered",
    "business_phone_number",
    "customer_city",
    "customer_country",
    "customer_name",
    "customer_phone_number",
    "customer_state",
    "direction",
    "duration",
    "id",
    "recording",
    "recording_duration",
    "recording_player",
    "start_time",
    "tracking_phone_number",
    "voicemail",
)
_EXTRA_FIELDS = ("company_id", "company_name", "transcription", "note", "source", "tags", "lead_status")
_SORT_FIELDS = ("start_time", "duration", "customer_name")
_AGENT_LINES = (
    "Thank you for calling, this is a sample call. How can I help?",
    "Let me look that up for you.",
    "I can book that appointment for Tuesday morning.",
    "Is there anything else I can help with today?",
)
_CALLER_LINES = (
    "Hi, I'd like to ask about your opening hours.",
    "I need a quote for a repair.",
    "Tuesday works for me.",
    "No, that's all. Thanks!",
)


@dataclass
class _StoredCall:
    record: dict[str, Any]  # every field but ``recording``, which depends on the server's URL
    start: datetime
    company_id: str | None
    has_recording: bool
    audio: bool


@dataclass
class _Account:
    api_key: str
    company_ids: tuple[str, ...]
    tracking_numbers: dict[str, str]
    transcriptions: bool
    tz: timezone
    rng: random.Random
    calls: list[_StoredCall] = field(default_factory=list)
    sequence: int = 0


class _BadRequest(Exception):
    pass


def _tone_wav(seconds: float = 0.5, rate: int = 8000, pitch: float = 440.0) -> bytes:
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * pitch * index / rate)))
        for index in range(int(seconds * rate))
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(rate)
        audio.writeframes(frames)
    return buffer.getvalue()


SAMPLE_AUDIO = _tone_wav()


def generate_call(account: _Account, at: datetime, company_id: str | None, now: datetime) -> _StoredCall:
    """One SAMPLE call of ``account``, started at ``at`` (or earlier: it has ended by ``now``)."""
    rng = account.rng
    account.sequence += 1
    number = account.sequence
    company = company_id or rng.choice(account.company_ids)
    answered = rng.random() < 0.8
    if not answered:
        duration = 0  # a missed call has no talk time, so no recording and no transcript either
    elif rng.random() < 0.5:
        duration = min(600, max(5, round(rng.gauss(30, 6))))  # many short calls around 30 s
    else:
        duration = rng.randint(5, 600)
    call_id = f"CAL{rng.getrandbits(128):032x}"
    # A call that has not ended yet is not listed: one that would end after now started earlier.
    start = min(at, now - timedelta(seconds=duration)).astimezone(account.tz)
    transcription = None
    if account.transcriptions and answered:
        lines = []
        for turn in range(rng.randint(1, len(_AGENT_LINES))):
            lines.append(f"Agent: {_AGENT_LINES[turn]}")
            lines.append(f"Caller: {_CALLER_LINES[turn]}")
        transcription = "\n".join(lines)
    record: dict[str, Any] = {
        "id": call_id,
        "answered": answered,
        "business_phone_number": "+15555550100",
        "customer_city": "Sample City",
        "customer_country": "US",
        "customer_name": f"Sample Caller {number}",
        "customer_phone_number": f"+1555555{rng.randint(100, 199):04d}",
        "customer_state": "ZZ",
        "direction": "inbound" if rng.random() < 0.85 else "outbound",
        "duration": duration,
        "recording_duration": duration if answered else None,
        "recording_player": None,
        "start_time": start.isoformat(timespec="milliseconds"),
        "tracking_phone_number": account.tracking_numbers.get(company, "+15555550199"),
        "voicemail": False,  # a voicemail would have a length and a recording
        "company_id": company,
        "company_name": f"Sample Company {account.company_ids.index(company) + 1}"
        if company in account.company_ids
        else "Sample Company",
        "transcription": transcription,
        "note": "SAMPLE DATA generated by infra/local/callrail_sample.py",
        "source": "Sample Source",
        "tags": [],
        "lead_status": None,
    }
    return _StoredCall(record=record, start=start, company_id=company, has_recording=answered, audio=answered)


def _by_start(call: _StoredCall) -> tuple[datetime, str]:
    return call.start, str(call.record.get("id", ""))


def _sort_key(sort: str) -> Callable[[_StoredCall], Any]:
    if sort == "duration":
        return lambda call: (
            call.record["duration"] if isinstance(call.record.get("duration"), int) else -1,
            *_by_start(call),
        )
    if sort == "customer_name":
        return lambda call: (str(call.record.get("customer_name", "")), *_by_start(call))
    return _by_start


def _int_param(query: dict[str, str], name: str, default: int) -> int:
    if name not in query:
        return default
    try:
        return int(query[name])
    except ValueError:
        raise _BadRequest(f"Invalid {name}") from None


def _parse_bound(value: str, tz: timezone, *, end: bool) -> datetime:
    """A date filter: a bare date is that whole day; a time without offset is in the account's time zone."""
    text = re.sub(
        r"(:\d{2}(?:\.\d+)?) (\d{2}:?\d{2})$", r"\1+\2", value.strip()
    )  # a "+" the client did not percent-encode
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time.max if end else time.min, tz)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _BadRequest(f"Invalid {'end_date' if end else 'start_date'}: {value}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def list_calls(
    account: _Account,
    pairs: list[tuple[str, str]],
    now: datetime,
    *,
    next_page_base: str,
    render: Callable[[_StoredCall, set[str]], dict[str, Any]],
) -> dict[str, Any]:
    """One page of ``GET calls.json`` for the query ``pairs`` (the caller holds the server's lock)."""
    first: dict[str, str] = {}
    for name, value in pairs:
        first.setdefault(name, value)
    end = _parse_bound(first["end_date"], account.tz, end=True) if "end_date" in first else now
    start = _parse_bound(first["start_date"], account.tz, end=False) if "start_date" in first else end - DEFAULT_RANGE
    per_page = min(MAX_PER_PAGE, max(1, _int_param(first, "per_page", DEFAULT_PER_PAGE)))
    sort = first.get("sort", "start_time")
    if sort not in _SORT_FIELDS:
        raise _BadRequest(f"Invalid sort field: {sort}")
    order = first.get("order", "desc")
    if order not in {"asc", "desc"}:
        raise _BadRequest(f"Invalid order: {order}")
    fields = {name.strip() for name in first.get("fields", "").split(",") if name.strip()}
    company_id = first.get("company_id")
    chosen = [
        call
        for call in account.calls
        if start <= call.start <= end and (company_id is None or call.company_id == company_id)
    ]
    chosen.sort(key=_sort_key(sort), reverse=order == "desc")
    total = len(chosen)
    if first.get("relative_pagination", "false").lower() == "true":
        offset = _int_param(first, "offset", 0)
        if offset < 0:
            raise _BadRequest("Invalid offset")
        page_calls = chosen[offset * per_page : (offset + 1) * per_page]
        has_next = (offset + 1) * per_page < total
        next_query = [(name, value) for name, value in pairs if name not in {"offset", "page"}]
        next_query.append(("offset", str(offset + 1)))
        return {
            "per_page": per_page,
            "has_next_page": has_next,
            "next_page": f"{next_page_base}?{urlencode(next_query)}" if has_next else None,
            "calls": [render(call, fields) for call in page_calls],
        }
    page = _int_param(first, "page", 1)
    if page < 1:
        raise _BadRequest("Invalid page")
    page_calls = chosen[(page - 1) * per_page : page * per_page]
    return {
        "page": page,
        "per_page": per_page,
        "total_pages": math.ceil(total / per_page),
        "total_records": total,
        "calls": [render(call, fields) for call in page_calls],
    }
