"""CallRail API v3 client: lists an account's calls in a time window, one validated record at a time.

Facts it relies on (CallRail API v3 documentation, "Listing All Calls", "Offset Pagination", "Relative
Pagination", "Field Selection", "HTTP Response Codes", "Rate Limiting"):

- ``GET {base}/a/{account_id}/calls.json`` with ``Authorization: Token token="<key>"``;
- ``start_date`` / ``end_date`` in ISO 8601 (without them the API picks a default range, so both are always sent);
- the default call fields include ``id``, ``answered``, ``direction``, ``duration``, ``recording``,
  ``start_time``, ``customer_phone_number`` and ``tracking_phone_number``; ``company_id`` and ``transcription``
  only come when named in ``fields``;
- offset paging answers ``page``, ``per_page``, ``total_pages``, ``total_records``, ``calls``; relative paging
  (``relative_pagination=true``) answers ``has_next_page`` and ``next_page`` (a full URL) with ``calls``;
- ``per_page`` is at most 250 on this endpoint;
- over the account's request limits every endpoint answers 429.

The API key is sent in one header and never written to a log or an exception.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.callrail.com/v3"
MAX_PER_PAGE = 250
# What the contract needs beyond the default call fields (docs/ingestion.md, "Polling one workspace").
EXTRA_FIELDS = ("company_id", "transcription")
DEFAULT_MAX_PAGES = 10_000
DEFAULT_ATTEMPTS = 3
DEFAULT_BACKOFF_SECONDS = 0.5
DEFAULT_TIMEOUT = httpx.Timeout(20, connect=5)
_MAX_MESSAGE_CHARS = 300

Paging = Literal["relative", "offset"]


class CallRecord(BaseModel):
    """One call as the ingestion needs it; fields the API sends beyond these are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(min_length=1)
    duration: int | None = Field(default=None, ge=0)
    start_time: AwareDatetime
    answered: bool | None = None
    direction: str | None = None
    recording: str | None = None  # the call's recording.json URL
    customer_phone_number: str | None = None
    tracking_phone_number: str | None = None
    company_id: str | None = None
    transcription: str | None = None


class InvalidCall(BaseModel):
    """A call record that failed validation: the caller logs and counts it, then goes on."""

    raw: dict[str, Any]
    error: str


class CallRailError(Exception):
    """Base of the client's errors. Their text never contains the API key."""


class CallRailRateLimited(CallRailError):
    """HTTP 429: the account is over its request limits. Not retried here; the next poll resumes."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CallRailUnavailable(CallRailError):
    """5xx, timeouts, connection errors or malformed pages, after the bounded retries."""


class CallRailRejected(CallRailError):
    """Any other 4xx (a bad key, an unknown account, a bad parameter): retrying would not help."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"CallRail rejected the request with HTTP {status}: {message}")
        self.status = status
        self.message = message


class _RetryableFailure(Exception):
    """One failed attempt that the next attempt may fix."""


def longest_page_seconds(
    attempts: int = DEFAULT_ATTEMPTS,
    backoff_seconds: float = DEFAULT_BACKOFF_SECONDS,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
) -> float:
    """How long fetching one page can take before it succeeds or raises, with these client settings.

    Every attempt waits out its connect and read timeouts, with the backoffs between attempts. (httpx's read
    timeout bounds each wait for data, so a server trickling one page byte by byte could take longer.)
    """
    per_attempt = float(timeout.connect or 0.0) + float(timeout.read or 0.0)
    backoffs = float(sum(backoff_seconds * 2 ** (attempt - 1) for attempt in range(1, attempts)))  # as _get_page
    return attempts * per_attempt + backoffs


class CallRailClient:
    """Reads calls from the CallRail v3 API.

    ``http`` may be shared (its own headers and base URL are not used); without it the client owns one and
    :meth:`close` closes it. ``sleep`` is the backoff's sleep, swappable in tests.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        http: httpx.Client | None = None,
        *,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff_seconds: float = DEFAULT_BACKOFF_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        if not api_key:
            raise ValueError("an API key is required")
        self._base_url = base_url.rstrip("/")
        self._origin = httpx.URL(self._base_url).copy_with(path="/", query=None, fragment=None)
        self._api_key = api_key
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client()
        self._attempts = attempts
        self._backoff_seconds = backoff_seconds
        self._sleep = sleep
        self._timeout = timeout
        self._max_pages = max_pages

    def __repr__(self) -> str:
        return f"CallRailClient(base_url={self._base_url!r})"

    def close(self) -> None:
        """Close the HTTP client if this client created it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> CallRailClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def iter_calls(
        self,
        account_id: str,
        start: datetime,
        end: datetime,
        *,
        company_id: str | None = None,
        per_page: int = MAX_PER_PAGE,
        paging: Paging = "relative",
    ) -> Iterator[CallRecord | InvalidCall]:
        """Every call that started in ``[start, end]``, in ascending ``start_time``, page by page.

        Pages are fetched lazily, so a caller can store the calls it got before an error ends the iteration.
        Raises :class:`CallRailRateLimited`, :class:`CallRailUnavailable` or :class:`CallRailRejected`.
        """
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be timezone-aware")
        if start > end:
            raise ValueError("start must not be after end")
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}")
        if not account_id or "/" in account_id:
            raise ValueError("invalid account id")
        url = f"{self._base_url}/a/{account_id}/calls.json"
        params: dict[str, str] = {
            "start_date": _iso(start),
            "end_date": _iso(end),
            "fields": ",".join(EXTRA_FIELDS),
            "per_page": str(per_page),
            "sort": "start_time",
            "order": "asc",
        }
        if company_id:
            params["company_id"] = company_id
        if paging == "relative":
            yield from self._iter_relative(account_id, url, {**params, "relative_pagination": "true"})
        elif paging == "offset":
            yield from self._iter_offset(account_id, url, params)
        else:
            raise ValueError(f"unknown paging style {paging!r}")

    def _iter_relative(self, account_id: str, url: str, params: dict[str, str]) -> Iterator[CallRecord | InvalidCall]:
        request_url = httpx.URL(url, params=params)
        seen: set[str] = set()
        for page_number in range(1, self._max_pages + 1):
            seen.add(str(request_url))
            page = self._get_page(request_url, account_id, page_number, _check_relative)
            yield from _records(page["calls"])
            if not page["has_next_page"]:
                return
            next_url = self._next_url(page["next_page"], params)
            if str(next_url) in seen:
                raise CallRailUnavailable(f"CallRail account {account_id}: next_page repeats an earlier page")
            request_url = next_url
        raise CallRailUnavailable(f"CallRail account {account_id}: stopped after {self._max_pages} pages")

    def _iter_offset(self, account_id: str, url: str, params: dict[str, str]) -> Iterator[CallRecord | InvalidCall]:
        for page_number in range(1, self._max_pages + 1):
            request_url = httpx.URL(url, params={**params, "page": str(page_number)})
            page = self._get_page(request_url, account_id, page_number, _check_offset)
            yield from _records(page["calls"])
            if page_number >= page["total_pages"] or not page["calls"]:
                return
        raise CallRailUnavailable(f"CallRail account {account_id}: stopped after {self._max_pages} pages")

    def _next_url(self, next_page: str, params: Mapping[str, str]) -> httpx.URL:
        """``next_page`` as a URL on the API's own origin, keeping the filters it might have dropped."""
        next_url = httpx.URL(next_page)
        if next_url.is_relative_url:
            next_url = self._origin.join(next_url)
        if (next_url.scheme, next_url.host, next_url.port) != (
            self._origin.scheme,
            self._origin.host,
            self._origin.port,
        ):
            # The key is only ever sent to the configured API.
            raise CallRailUnavailable("CallRail next_page points outside the configured API")
        missing = {name: value for name, value in params.items() if name not in next_url.params}
        return next_url.copy_merge_params(missing) if missing else next_url

    def _get_page(
        self,
        url: httpx.URL,
        account_id: str,
        page_number: int,
        check: Callable[[Any], dict[str, Any]],
    ) -> dict[str, Any]:
        """One page, retried on 5xx, timeouts, connection errors and malformed bodies."""
        failure = "no attempt made"
        for attempt in range(1, self._attempts + 1):
            try:
                return check(self._request_json(url))
            except _RetryableFailure as exc:
                failure = str(exc)
            logger.warning(
                "CallRail page failed",
                extra={"account_id": account_id, "page": page_number, "attempt": attempt, "failure": failure},
            )
            if attempt < self._attempts:
                self._sleep(self._backoff_seconds * 2 ** (attempt - 1))
        raise CallRailUnavailable(
            f"CallRail account {account_id} page {page_number} failed after {self._attempts} attempts: {failure}"
        )

    def _request_json(self, url: httpx.URL) -> Any:
        headers = {"Authorization": f'Token token="{self._api_key}"', "Accept": "application/json"}
        try:
            response = self._http.get(url, headers=headers, timeout=self._timeout)
        except httpx.TimeoutException as exc:
            raise _RetryableFailure(f"timeout ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise _RetryableFailure(f"connection error ({type(exc).__name__})") from None
        status = response.status_code
        if status == 429:
            retry_after = _retry_after(response.headers.get("Retry-After"))
            raise CallRailRateLimited(
                f"CallRail rate limit reached (HTTP 429, retry after {retry_after}s)", retry_after
            )
        if status >= 500:
            raise _RetryableFailure(f"HTTP {status}")
        if status != 200:
            raise CallRailRejected(status, self._redact(_error_message(response)))
        try:
            return response.json()
        except ValueError:
            raise _RetryableFailure("malformed JSON") from None

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "[redacted]")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _check_common(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _RetryableFailure("malformed page: not a JSON object")
    if not isinstance(body.get("calls"), list):
        raise _RetryableFailure("malformed page: no calls list")
    return body


def _check_relative(body: Any) -> dict[str, Any]:
    page = _check_common(body)
    if not isinstance(page.get("has_next_page"), bool):
        raise _RetryableFailure("malformed page: no has_next_page")
    if page["has_next_page"] and not isinstance(page.get("next_page"), str):
        raise _RetryableFailure("malformed page: has_next_page without next_page")
    return page


def _check_offset(body: Any) -> dict[str, Any]:
    page = _check_common(body)
    total_pages = page.get("total_pages")
    if not isinstance(total_pages, int) or isinstance(total_pages, bool) or total_pages < 0:
        raise _RetryableFailure("malformed page: no total_pages")
    return page


def _records(items: list[Any]) -> Iterator[CallRecord | InvalidCall]:
    for item in items:
        if not isinstance(item, dict):
            yield InvalidCall(raw={"value": item}, error="call record is not a JSON object")
            continue
        try:
            yield CallRecord.model_validate(item)
        except ValidationError as exc:
            yield InvalidCall(raw=item, error=_describe(exc))


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'record'}: {error['msg']}" for error in exc.errors()
    )


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("error", "errors", "message"):
            if body.get(key):
                return str(body[key])[:_MAX_MESSAGE_CHARS]
    return (response.reason_phrase or "error")[:_MAX_MESSAGE_CHARS]
