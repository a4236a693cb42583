"""boto3 clients, created once per process and shared by every adapter.

boto3 reads ``AWS_ENDPOINT_URL`` itself, which is how the local runtime and the race tests point every
client at an embedded moto server without a code path of their own.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=3, read_timeout=10)


@cache
def client(service: str) -> Any:
    """A shared client for ``service`` with bounded timeouts and standard retries."""
    return boto3.session.Session().client(service, config=_CONFIG)


def reset_clients() -> None:
    """Forget cached clients (tests switch endpoints and credentials between cases)."""
    client.cache_clear()
