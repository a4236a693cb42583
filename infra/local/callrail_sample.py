"""A CallRail-compatible sample server on loopback, for the local runtime and the ingestion tests.

SAMPLE DATA, labelled as such (:mod:`infra.local.callrail_calls` generates it). Nothing here talks to CallRail.

What it serves (the shapes of the CallRail API v3 documentation):

- ``GET /v3/a/{account_id}/calls.json``: a page of calls (:func:`infra.local.callrail_calls.list_calls`).
- ``GET /v3/a/{account_id}/calls/{call_id}/recording.json``: ``{"url": <loopback audio URL>}``.
- ``GET /sample-audio/{call_id}.wav``: a tiny WAV file (half a second of tone), without a key, like a signed URL.

Every ``/v3/a/{account_id}/...`` request needs ``Authorization: Token token="<the account's key>"`` (401
otherwise; 404 for an unknown account). Tests inject failures through :meth:`CallRailSampleServer.intercept`
(``tests/local/callrail_faults.py``).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
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

from infra.local.callrail_calls import (
    _DEFAULT_FIELDS,
    _EXTRA_FIELDS,
    SAMPLE_AUDIO,
    _Account,
    _BadRequest,
    _by_start,
    _StoredCall,
    generate_call,
    list_calls,
)

logger = logging.getLogger("infra.local.callrail_sample")
_KEPT_REQUESTS = 10_000

SAMPLE_HEADER = "X-Sample-Data"
_CALLS_PATH = re.compile(r"^/v3/a/(?P<account>[^/]+)/calls\.json$")
_RECORDING_PATH = re.compile(r"^/v3/a/(?P<account>[^/]+)/calls/(?P<call>[^/]+)/recording\.json$")
_ACCOUNT_PATH = re.compile(r"^/v3/a/(?P<account>[^/]+)/")
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
    """One request being answered, and what the request log keeps of it."""

    request: BaseHTTPRequestHandler
    path: str
    pairs: list[tuple[str, str]]
    account_id: str | None = None

    @property
    def query(self) -> dict[str, list[str]]:
        query: dict[str, list[str]] = {}
        for name, value in self.pairs:
            query.setdefault(name, []).append(value)
        return query


class CallRailSampleServer:
    """A CallRail v3 look-alike on ``127.0.0.1`` serving generated SAMPLE DATA (see the module docstring).

    The port is bound at construction, so :attr:`url` is known before :meth:`start`. With
    ``arrival_every_seconds`` a background thread adds one new call per account on that period, a call that has
    just ended (at most ``max_arrivals`` in all), for the local demo.
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
                # A client that gave up (a timeout test) leaves nothing to answer.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    server._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="callrail-sample", daemon=True
        )
        self._arrivals = threading.Thread(target=self._arrive, name="callrail-sample-arrivals", daemon=True)

    # -- lifecycle -------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The API base, ``http://127.0.0.1:PORT/v3`` (what ``CALLRAIL_API_URL`` points at)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v3"

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> CallRailSampleServer:
        """Serve in a background thread (and start the arrivals when asked for)."""
        self._thread.start()
        if self._arrival_every:
            self._arrivals.start()
        return self

    def stop(self) -> None:
        """Stop serving; slow responses in flight end at once."""
        self._stopping.set()
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        if self._arrivals.is_alive():
            self._arrivals.join(timeout=10)

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
        """Create an account whose ``calls`` start spread over ``[end - span, end]``; returns its company ids.

        The same ``account_id`` and ``seed`` always generate the same calls (ids, durations, numbers, offsets
        within the window). ``end`` defaults to now; ``transcriptions`` gives answered calls a transcript.
        """
        digest = hashlib.sha256(f"{account_id}:{seed}".encode()).digest()
        rng = random.Random(int.from_bytes(digest[:8], "big"))  # noqa: S311 -- sample data, not secrets
        companies = tuple(company_ids) if company_ids else tuple(f"COM{rng.getrandbits(128):032x}" for _ in range(2))
        account = _Account(
            api_key=api_key,
            company_ids=companies,
            tracking_numbers={company: f"+1555555{150 + index:04d}" for index, company in enumerate(companies)},
            transcriptions=transcriptions,
            tz=timezone(timedelta(hours=utc_offset_hours)),
            rng=rng,
        )
        window_end = end or self._clock()
        with self._lock:
            self._accounts[account_id] = account
            for _ in range(calls):
                at = window_end - span * rng.random()
                account.calls.append(self._generate(account, at, None))
        return companies

    def add_calls(
        self, account_id: str, n: int, *, at: datetime | None = None, company_id: str | None = None
    ) -> list[dict[str, Any]]:
        """``n`` new calls that "arrive" now: starting at ``at`` (default now), one second apart, except that a call
        that would not have ended by now starts earlier (see the module docstring)."""
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
            account = self._account(account_id)
            chosen = [
                call
                for call in sorted(account.calls, key=_by_start)
                if (start is None or call.start >= start)
                and (end is None or call.start <= end)
                and (company_id is None or call.company_id == company_id)
            ]
            return [self._render(account_id, call, None) for call in chosen]

    def company_ids(self, account_id: str) -> tuple[str, ...]:
        with self._lock:
            return self._account(account_id).company_ids

    # -- observation -----------------------------------------------------------------------------------------

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
            if (account_id is None or request.account_id == account_id) and request.path.endswith(path_suffix)
        )

    def reset_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- internals -------------------------------------------------------------------------------------------

    def _account(self, account_id: str) -> _Account:
        try:
            return self._accounts[account_id]
        except KeyError:
            raise KeyError(f"no sample account {account_id!r}") from None

    def _generate(self, account: _Account, at: datetime, company_id: str | None) -> _StoredCall:
        """One SAMPLE call (caller must hold the lock)."""
        return generate_call(account, at, company_id, self._clock())

    def _render(self, account_id: str, call: _StoredCall, fields: set[str] | None) -> dict[str, Any]:
        """The call as the API shows it: default fields plus ``fields`` (all fields when None)."""
        record = dict(call.record)
        call_id = record.get("id")
        record["recording"] = (
            f"{self.url}/a/{account_id}/calls/{call_id}/recording.json" if call.has_recording and call_id else None
        )
        if call.has_recording and call_id:
            record["recording_player"] = f"{self.origin}/sample-player/{call_id}"
        if fields is None:
            return record
        wanted = set(_DEFAULT_FIELDS) | (fields & set(_EXTRA_FIELDS))
        return {name: value for name, value in record.items() if name in wanted}

    def _arrive(self) -> None:
        interval = max(0.05, self._arrival_every or 1.0)
        arrived = 0
        while arrived < self._max_arrivals and not self._stopping.wait(interval):
            with self._lock:
                now = self._clock()
                for account in self._accounts.values():
                    account.calls.append(self._generate(account, now, None))
                    arrived += 1
            logger.info("sample calls arrived", extra={"total": arrived})

    # -- HTTP ------------------------------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        exchange = _Exchange(request, parts.path, pairs)
        audio = _AUDIO_PATH.match(exchange.path)
        account_match = _ACCOUNT_PATH.match(exchange.path)
        if audio:
            self._serve_audio(exchange, audio["call"])
        elif not account_match:
            self._answer(exchange, 404, {"error": "Not found"})
        else:
            exchange.account_id = account_match["account"]
            self._serve_account(exchange, exchange.account_id)

    def _serve_account(self, exchange: _Exchange, account_id: str) -> None:
        with self._lock:
            account = self._accounts.get(account_id)
        if account is None:
            self._answer(exchange, 404, {"error": "Account not found"})
            return
        if self.intercept(exchange, account_id):
            return
        if not self._authorized(account, exchange.request.headers.get("Authorization")):
            self._answer(exchange, 401, {"error": "HTTP Token: Access denied."})
            return
        calls_match = _CALLS_PATH.match(exchange.path)
        recording_match = _RECORDING_PATH.match(exchange.path)
        try:
            if calls_match:
                document = self._list_calls(account_id, account, exchange.pairs)
            elif recording_match:
                document = self._recording(account, recording_match["call"])
            else:
                raise LookupError("Not found")
        except _BadRequest as exc:
            self._answer(exchange, 400, {"error": str(exc)})
        except LookupError as exc:
            self._answer(exchange, 404, {"error": str(exc.args[0])})
        else:
            self._answer(exchange, 200, document)

    def intercept(self, exchange: _Exchange, account_id: str) -> bool:
        """Called before the key is checked; True when it answered the request itself (tests inject failures)."""
        return False

    @staticmethod
    def _authorized(account: _Account, header: str | None) -> bool:
        match = _TOKEN.match(header or "")
        return match is not None and hmac.compare_digest(match["key"].encode(), account.api_key.encode())

    def _list_calls(self, account_id: str, account: _Account, pairs: list[tuple[str, str]]) -> dict[str, Any]:
        with self._lock:
            return list_calls(
                account,
                pairs,
                self._clock(),
                next_page_base=f"{self.url}/a/{account_id}/calls.json",
                render=lambda call, fields: self._render(account_id, call, fields),
            )

    def _recording(self, account: _Account, call_id: str) -> dict[str, Any]:
        with self._lock:
            for call in account.calls:
                if call.record.get("id") == call_id and call.has_recording:
                    return {"url": f"{self.origin}/sample-audio/{call_id}.wav"}
        raise LookupError(f"No recording for call {call_id}")

    def _serve_audio(self, exchange: _Exchange, call_id: str) -> None:
        with self._lock:
            known = any(
                call.audio and call.record.get("id") == call_id
                for account in self._accounts.values()
                for call in account.calls
            )
        if known:
            self._send(exchange, 200, SAMPLE_AUDIO, "audio/wav")
        else:
            self._answer(exchange, 404, {"error": "Not found"})

    def _answer(
        self, exchange: _Exchange, status: int, document: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        self._send(exchange, status, json.dumps(document).encode(), "application/json; charset=utf-8", headers)

    def _send(
        self, exchange: _Exchange, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        with self._lock:
            self._requests.append(RecordedRequest("GET", exchange.path, exchange.query, exchange.account_id, status))
        request = exchange.request
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        request.send_header(SAMPLE_HEADER, "true")
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(body)
