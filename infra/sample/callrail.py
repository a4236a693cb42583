"""A CallRail-compatible sample server on loopback: SAMPLE DATA, labelled as such. Nothing here talks to CallRail.

What it serves, in the shapes of the CallRail API v3 documentation, with ``X-Sample-Data: true`` on every answer:

- ``GET /v3/a/{account_id}/calls.json``: ``start_date`` / ``end_date`` (ISO 8601, inclusive; a bare date is that
  whole day, a time without offset is in the account's time zone; without them the last 7 days), ``per_page``
  (default 100, at most 250), ``sort=start_time`` with ``order`` (default ``desc``), ``company_id`` and ``fields``
  (``company_id``, ``transcription`` and ``note`` only when named). Offset paging (``page``) answers ``page``,
  ``per_page``, ``total_pages``, ``total_records``, ``calls``; relative paging (``relative_pagination=true``,
  ``offset`` = 0-based page) answers ``per_page``, ``has_next_page``, ``next_page`` (a full URL or null), ``calls``.
- ``GET /v3/a/{account_id}/calls/{call_id}/recording.json``: ``{"url": <loopback audio URL>}``.
- ``GET /sample-audio/{call_id}.wav``: a short silent WAV file, without a key, like a signed URL.

Every ``/v3/a/{account_id}/...`` request needs ``Authorization: Token token="<the account's key>"`` (401 otherwise;
404 for an unknown account). Calls are generated deterministically per account and seed: callers are "Sample
Caller <n>", numbers are in the fictional +1 555-555-01XX range, each ``note`` says SAMPLE DATA. About one call in
five was missed (``duration`` 0, no recording, no transcript). Every call has ended by the server's "now": one
asked for at a moment too recent for its length starts that much earlier. Tests inject failures by overriding
:meth:`CallRailSampleServer.intercept` (``tests/support/callrail_faults.py``).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import random
import re
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from infra.sample.callrail_calls import (
    EXTRA_FIELDS,
    SAMPLE_AUDIO,
    _Account,
    _BadRequest,
    _by_start,
    _StoredCall,
    generate_call,
    list_calls,
)

SAMPLE_HEADER = "X-Sample-Data"
_KEPT_REQUESTS = 10_000
_ACCOUNT_PATH = re.compile(r"^/v3/a/(?P<account>[^/]+)/(?P<rest>.*)$")
_RECORDING_PATH = re.compile(r"^calls/(?P<call>[^/]+)/recording\.json$")
_AUDIO_PATH = re.compile(r"^/sample-audio/(?P<call>[A-Za-z0-9]+)\.wav$")
_TOKEN = re.compile(r'^Token\s+token="?(?P<key>[^"]*)"?$')


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server answered (the Authorization header is never kept)."""

    method: str
    path: str
    query: dict[str, list[str]]
    account_id: str | None
    status: int


@dataclass
class _Exchange:
    """One request being answered."""

    request: BaseHTTPRequestHandler
    path: str
    pairs: list[tuple[str, str]]
    account_id: str | None = None


class CallRailSampleServer:
    """A CallRail v3 look-alike on ``127.0.0.1`` serving generated SAMPLE DATA (see the module docstring).

    The port is bound at construction, so :attr:`url` is known before :meth:`start`. With
    ``arrival_every_seconds`` a background thread adds one call that has just ended per account on that period
    (at most ``max_arrivals`` in all), for the local demo.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        arrival_every_seconds: float | None = None,
        max_arrivals: int = 10_000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if host not in {"127.0.0.1", "localhost", "::1"}:
            raise ValueError("the sample server only binds to loopback")
        self._clock = clock
        self._lock = threading.Lock()
        self._accounts: dict[str, _Account] = {}
        self._requests: deque[RecordedRequest] = deque(maxlen=_KEPT_REQUESTS)
        self._stopping = threading.Event()
        self._arrival_every = arrival_every_seconds
        self._max_arrivals = max_arrivals
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client that gave up
                    server._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._threads = [
            threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="callrail-sample", daemon=True
            )
        ]
        if arrival_every_seconds:
            self._threads.append(threading.Thread(target=self._arrive, name="callrail-sample-arrivals", daemon=True))

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def url(self) -> str:
        """The API base, ``http://127.0.0.1:PORT/v3`` (what ``CALLRAIL_API_URL`` points at)."""
        return f"{self.origin}/v3"

    def start(self) -> CallRailSampleServer:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; slow responses in flight end at once."""
        self._stopping.set()
        if self._threads[0].is_alive():
            self._server.shutdown()
        self._server.server_close()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=10)

    def __enter__(self) -> CallRailSampleServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- accounts and calls ----------------------------------------------------------------------------------

    def add_account(
        self,
        account_id: str,
        api_key: str,
        *,
        calls: int = 40,
        end: datetime | None = None,
        span: timedelta = timedelta(hours=24),
        company_ids: Sequence[str] | None = None,
        transcriptions: bool = False,
        utc_offset_hours: int = -5,
        seed: int = 0,
    ) -> tuple[str, ...]:
        """An account whose ``calls`` start spread over ``[end - span, end]`` (``end`` defaults to now); returns
        its company ids. The same ``account_id`` and ``seed`` generate the same calls."""
        digest = hashlib.sha256(f"{account_id}:{seed}".encode()).digest()
        rng = random.Random(int.from_bytes(digest[:8], "big"))  # noqa: S311 -- sample data, not secrets
        companies = tuple(company_ids) if company_ids else tuple(f"COM{rng.getrandbits(128):032x}" for _ in range(2))
        account = _Account(api_key, companies, transcriptions, timezone(timedelta(hours=utc_offset_hours)), rng)
        window_end = end or self._clock()
        with self._lock:
            self._accounts[account_id] = account
            account.calls += [self._generate(account, window_end - span * rng.random(), None) for _ in range(calls)]
        return companies

    def add_calls(
        self, account_id: str, n: int, *, at: datetime | None = None, company_id: str | None = None
    ) -> list[dict[str, Any]]:
        """``n`` new calls starting at ``at`` (default now), one second apart; returns their records."""
        start = at or self._clock()
        with self._lock:
            account = self._account(account_id)
            stored = [self._generate(account, start + timedelta(seconds=index), company_id) for index in range(n)]
            account.calls.extend(stored)
            return [self._render(account_id, call, None) for call in stored]

    def calls(
        self,
        account_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        company_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """The account's call records with every field, ascending ``start_time``, optionally filtered."""
        with self._lock:
            return [
                self._render(account_id, call, None)
                for call in sorted(self._account(account_id).calls, key=_by_start)
                if (start is None or call.start >= start)
                and (end is None or call.start <= end)
                and company_id in (None, call.record["company_id"])
            ]

    def company_ids(self, account_id: str) -> tuple[str, ...]:
        with self._lock:
            return self._account(account_id).company_ids

    @property
    def requests(self) -> list[RecordedRequest]:
        """The requests answered so far (the most recent 10,000), oldest first."""
        with self._lock:
            return list(self._requests)

    def request_count(self, account_id: str | None = None, *, path_suffix: str = "") -> int:
        """How many requests (to ``account_id``, on paths ending with ``path_suffix``) were answered."""
        return sum(
            1
            for request in self.requests
            if account_id in (None, request.account_id) and request.path.endswith(path_suffix)
        )

    def _account(self, account_id: str) -> _Account:
        try:
            return self._accounts[account_id]
        except KeyError:
            raise KeyError(f"no sample account {account_id!r}") from None

    def _generate(self, account: _Account, at: datetime, company_id: str | None) -> _StoredCall:
        return generate_call(account, at, company_id, self._clock())

    def _render(self, account_id: str, call: _StoredCall, fields: set[str] | None) -> dict[str, Any]:
        """The call as the API shows it: default fields plus ``fields`` (every field when None)."""
        call_id = call.record.get("id")
        recording = f"{self.url}/a/{account_id}/calls/{call_id}/recording.json" if call.has_recording else None
        record = {**call.record, "recording": recording if call_id else None}
        if fields is None:
            return record
        return {name: value for name, value in record.items() if name not in EXTRA_FIELDS or name in fields}

    def _arrive(self) -> None:
        arrived = 0
        while arrived < self._max_arrivals and not self._stopping.wait(max(0.05, self._arrival_every or 1.0)):
            with self._lock:
                for account in self._accounts.values():
                    account.calls.append(self._generate(account, self._clock(), None))
                    arrived += 1

    # -- HTTP ------------------------------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        exchange = _Exchange(request, parts.path, parse_qsl(parts.query, keep_blank_values=True))
        audio = _AUDIO_PATH.match(exchange.path)
        scoped = _ACCOUNT_PATH.match(exchange.path)
        if audio:
            with self._lock:
                known = any(
                    call.has_recording and call.record.get("id") == audio["call"]
                    for account in self._accounts.values()
                    for call in account.calls
                )
            if known:
                self._send(exchange, 200, SAMPLE_AUDIO, "audio/wav")
                return
        elif scoped:
            exchange.account_id = scoped["account"]
            self._serve_account(exchange, scoped["account"], scoped["rest"])
            return
        self._answer(exchange, 404, {"error": "Not found"})

    def _serve_account(self, exchange: _Exchange, account_id: str, rest: str) -> None:
        with self._lock:
            account = self._accounts.get(account_id)
        if account is None:
            self._answer(exchange, 404, {"error": "Account not found"})
        elif self.intercept(exchange, account_id):
            return
        elif not _authorized(account, exchange.request.headers.get("Authorization")):
            self._answer(exchange, 401, {"error": "HTTP Token: Access denied."})
        elif rest == "calls.json":
            try:
                with self._lock:
                    document = self._list_calls(account_id, account, exchange.pairs)
            except _BadRequest as error:
                self._answer(exchange, 400, {"error": str(error)})
            else:
                self._answer(exchange, 200, document)
        elif (recording := _RECORDING_PATH.match(rest)) and self._has_recording(account, recording["call"]):
            self._answer(exchange, 200, {"url": f"{self.origin}/sample-audio/{recording['call']}.wav"})
        else:
            self._answer(exchange, 404, {"error": "Not found"})

    def intercept(self, exchange: _Exchange, account_id: str) -> bool:
        """Called before the key is checked; True when it answered the request itself (tests inject failures)."""
        return False

    def _has_recording(self, account: _Account, call_id: str) -> bool:
        with self._lock:
            return any(call.record.get("id") == call_id and call.has_recording for call in account.calls)

    def _list_calls(self, account_id: str, account: _Account, pairs: list[tuple[str, str]]) -> dict[str, Any]:
        return list_calls(
            account,
            pairs,
            self._clock(),
            next_page_base=f"{self.url}/a/{account_id}/calls.json",
            render=lambda call, fields: self._render(account_id, call, fields),
        )

    def _answer(
        self, exchange: _Exchange, status: int, document: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        self._send(exchange, status, json.dumps(document).encode(), "application/json; charset=utf-8", headers)

    def _send(
        self, exchange: _Exchange, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        query: dict[str, list[str]] = {}
        for name, value in exchange.pairs:
            query.setdefault(name, []).append(value)
        with self._lock:
            self._requests.append(RecordedRequest("GET", exchange.path, query, exchange.account_id, status))
        request = exchange.request
        request.send_response(status)
        for name, value in {
            "Content-Type": content_type,
            "Content-Length": str(len(body)),
            SAMPLE_HEADER: "true",
            **(headers or {}),
        }.items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(body)


def _authorized(account: _Account, header: str | None) -> bool:
    match = _TOKEN.match(header or "")
    return match is not None and hmac.compare_digest(match["key"].encode(), account.api_key.encode())
