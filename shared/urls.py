"""URLs as they may appear in messages: where a request went, without what only its owner may know."""

from __future__ import annotations

from urllib.parse import urlsplit


def describe_url(url: str) -> str:
    """``scheme://host[:port]/path`` of ``url``: no ``user:password@``, no query string, no fragment.

    Customers' webhook URLs and CallRail's audio links carry credentials in those parts, and error messages end up
    in job failures, logs and events.
    """
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparseable URL>"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal keeps its brackets
    return f"{parts.scheme}://{host}{port}{parts.path}"
