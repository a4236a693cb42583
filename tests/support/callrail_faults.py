"""The CallRail sample server with failures to inject, for the tests of the client, the poller and the server.

Each queued behaviour is used by the next request to that account, before the key is checked:
:meth:`FaultyCallRailServer.fail_next`, :meth:`~FaultyCallRailServer.malformed_next` and
:meth:`~FaultyCallRailServer.slow_next`. :meth:`~FaultyCallRailServer.add_malformed_call` stores a call record
that fails validation.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from infra.sample.callrail import CallRailSampleServer, _Exchange

MAX_SLOW_SECONDS = 30.0
Defect = Literal["duration", "id"]


@dataclass(frozen=True)
class _Fault:
    kind: Literal["fail", "malformed", "slow"]
    status: int = 200
    retry_after: float | None = None
    seconds: float = 0.0


class FaultyCallRailServer(CallRailSampleServer):
    """:class:`CallRailSampleServer` whose next answers to an account can be made to fail."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._faults: defaultdict[str, deque[_Fault]] = defaultdict(deque)

    def fail_next(self, account_id: str, *, status: int = 503, times: int = 1, retry_after: float | None = 60) -> None:
        """The next ``times`` requests to the account answer ``status`` (429 sends ``Retry-After``)."""
        self._queue(account_id, _Fault("fail", status, retry_after if status == 429 else None), times)

    def malformed_next(self, account_id: str, *, times: int = 1) -> None:
        """The next ``times`` requests to the account answer 200 with a truncated JSON body."""
        self._queue(account_id, _Fault("malformed"), times)

    def slow_next(self, account_id: str, seconds: float, *, times: int = 1) -> None:
        """The next ``times`` requests to the account wait ``seconds`` (at most 30) before answering normally."""
        self._queue(account_id, _Fault("slow", seconds=min(seconds, MAX_SLOW_SECONDS)), times)

    def clear_failures(self, account_id: str) -> None:
        with self._lock:
            self._faults[account_id].clear()

    def add_malformed_call(
        self, account_id: str, *, at: datetime | None = None, defect: Defect = "duration"
    ) -> dict[str, Any]:
        """Store a call record that fails validation: ``duration: "abc"`` or no ``id``. Returns the record."""
        with self._lock:
            account = self._account(account_id)
            call = self._generate(account, at or self._clock(), None)
            if defect == "duration":
                call.record["duration"] = "abc"
            else:
                del call.record["id"]
            call.has_recording = False
            account.calls.append(call)
            return self._render(account_id, call, None)

    def _queue(self, account_id: str, fault: _Fault, times: int) -> None:
        with self._lock:
            self._account(account_id)  # an unknown account is an error here, not at the request
            self._faults[account_id].extend([fault] * times)

    def intercept(self, exchange: _Exchange, account_id: str) -> bool:
        with self._lock:
            queued = self._faults[account_id]
            fault = queued.popleft() if queued else None
        if fault is None:
            return False
        if fault.kind == "slow":
            self._stopping.wait(fault.seconds)
            return False
        if fault.kind == "fail":
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            message = "Too many requests" if fault.status == 429 else "Sample failure"
            self._answer(exchange, fault.status, {"error": message}, headers)
            return True
        self._send(exchange, 200, b'{"calls": [{"id": "CAL', "application/json")
        return True
