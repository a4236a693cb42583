"""Signed cursors and API key parsing and hashing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shared.auth.keys import KEY_PREFIX, bearer_key, generate_key, hash_key, key_id_for
from shared.errors import InvalidCursor
from shared.jobs.cursor import CursorCodec

BINDING = {"workspace_id": "ws_1", "status": "skipped", "scope": "workspace", "scope_id": "ws_1", "key_id": "k"}
LAST_KEY = {"pk": "JOB#1", "sk": "JOB", "workspace_id": "ws_1", "status": "skipped", "created_at": "2026"}


def test_a_cursor_round_trips() -> None:
    codec = CursorCodec(b"x" * 32)

    assert codec.decode(codec.encode(LAST_KEY, BINDING), BINDING) == LAST_KEY


def test_a_cursor_signed_with_another_secret_is_refused() -> None:
    cursor = CursorCodec(b"y" * 32).encode(LAST_KEY, BINDING)

    with pytest.raises(InvalidCursor):
        CursorCodec(b"x" * 32).decode(cursor, BINDING)


@pytest.mark.parametrize("field", sorted(BINDING))
def test_a_cursor_is_bound_to_every_part_of_the_query_and_caller(field: str) -> None:
    codec = CursorCodec(b"x" * 32)
    cursor = codec.encode(LAST_KEY, BINDING)

    with pytest.raises(InvalidCursor):
        codec.decode(cursor, {**BINDING, field: "other"})


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda payload, signature: f"{payload}.{signature[:-1]}é", id="non-ascii-signature"),
        pytest.param(lambda payload, signature: f"{payload}.{signature}\u00a0", id="non-ascii-after-signature"),
        pytest.param(lambda payload, signature: f"{payload}é.{signature}", id="non-ascii-payload"),
        pytest.param(lambda payload, signature: f"{payload}.{signature}\udc80", id="lone-surrogate"),
        pytest.param(lambda payload, signature: f".{signature}", id="no-payload"),
        pytest.param(lambda payload, signature: payload, id="no-signature"),
        pytest.param(lambda payload, signature: "", id="empty"),
    ],
)
def test_a_malformed_cursor_is_an_invalid_cursor(tamper: Callable[[str, str], str]) -> None:
    codec = CursorCodec(b"x" * 32)
    payload, _, signature = codec.encode(LAST_KEY, BINDING).partition(".")

    with pytest.raises(InvalidCursor):
        codec.decode(tamper(payload, signature), BINDING)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        CursorCodec(b"short")


def test_generated_keys_are_prefixed_unique_and_hashed_with_sha256() -> None:
    first, second = generate_key(), generate_key()

    assert first.startswith(KEY_PREFIX)
    assert first != second
    assert len(first) > 40
    assert hash_key(first) != hash_key(second)
    assert len(hash_key(first)) == 64
    assert key_id_for(hash_key(first)).startswith("key_")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer gsk_abc", "gsk_abc"),
        ("bearer gsk_abc", "gsk_abc"),
        ("BEARER   gsk_abc  ", "gsk_abc"),
        ("Bearer abc", None),
        ("Bearer gsk_", None),
        ("Token gsk_abc", None),
        ("gsk_abc", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_key_parsing(header: str | None, expected: str | None) -> None:
    assert bearer_key(header) == expected
