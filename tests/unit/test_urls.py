"""URLs in error messages: where the request went, never what only its owner may know."""

from __future__ import annotations

import pytest

from shared.urls import describe_url


@pytest.mark.parametrize(
    ("url", "described"),
    [
        ("https://user:hunter2@hooks.example.com/calls?token=abc#frag", "https://hooks.example.com/calls"),
        ("https://hunter2@hooks.example.com:8443/calls", "https://hooks.example.com:8443/calls"),
        (
            "https://app.callrail.com/calls/1/recording/redirect?access_key=abc",
            "https://app.callrail.com/calls/1/recording/redirect",
        ),
        ("http://[::1]:8080/hook", "http://[::1]:8080/hook"),
        ("http://127.0.0.1/", "http://127.0.0.1/"),
        ("https://user:pw@host:notaport/x?t=1", "<unparseable URL>"),
    ],
)
def test_a_described_url_keeps_scheme_host_port_and_path_only(url: str, described: str) -> None:
    assert describe_url(url) == described
    for secret in ("hunter2", "token", "access_key", "abc", "user:", "pw@"):
        assert secret not in describe_url(url)
