"""A CallRail sample server on loopback with one account, and clients for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shared.callrail.client import CallRailClient
from tests.support.callrail_faults import FaultyCallRailServer as CallRailSampleServer

ACCOUNT = "ACC000000001"
API_KEY = "sample-key-1f2e3d4c5b6a"
WINDOW_END = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
WINDOW_START = WINDOW_END - timedelta(hours=24)


@pytest.fixture
def server() -> Iterator[CallRailSampleServer]:
    """A sample server whose account has 40 calls spread over the 24 hours before ``WINDOW_END``."""
    with CallRailSampleServer() as sample:
        sample.add_account(ACCOUNT, API_KEY, calls=40, end=WINDOW_END, span=timedelta(hours=23), transcriptions=True)
        yield sample


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_client(server: CallRailSampleServer, sleeps: list[float]) -> Iterator[Callable[..., CallRailClient]]:
    """Clients of the sample server that record their backoff instead of sleeping."""
    http = httpx.Client()

    def make(*, api_key: str = API_KEY, **options: object) -> CallRailClient:
        options.setdefault("backoff_seconds", 0.01)
        return CallRailClient(server.url, api_key, http, sleep=sleeps.append, **options)  # type: ignore[arg-type]

    yield make
    http.close()
