"""Opaque, tamper-proof pagination cursors.

A cursor carries DynamoDB's ``LastEvaluatedKey`` and a digest of what it is bound to (the query and the
caller), signed with HMAC-SHA256. A cursor that was altered, or is replayed with another query or by
another key, fails verification.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from shared.errors import InvalidCursor


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _digest(binding: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(binding, sort_keys=True).encode()).hexdigest()[:32]


class CursorCodec:
    """Signs and verifies cursors with one secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the cursor signing secret must be at least 16 bytes")
        self._secret = secret

    def encode(self, last_key: dict[str, Any], binding: dict[str, Any]) -> str:
        payload = _b64encode(json.dumps({"k": last_key, "b": _digest(binding)}, sort_keys=True).encode())
        return f"{payload}.{self._sign(payload)}"

    def decode(self, cursor: str, binding: dict[str, Any]) -> dict[str, Any]:
        """The ``LastEvaluatedKey`` in ``cursor``, after checking its signature and its binding."""
        payload, _, signature = cursor.partition(".")
        # Issued cursors are base64url: any other character (non-ASCII, a lone surrogate) is refused before it can
        # make encoding or compare_digest raise; the comparison is of bytes, which compare_digest always accepts.
        if (
            not cursor.isascii()
            or not payload
            or not hmac.compare_digest(signature.encode(), self._sign(payload).encode())
        ):
            raise InvalidCursor("The cursor is not valid: it was altered or not issued by this API.")
        try:
            content = json.loads(_b64decode(payload))
            last_key = content["k"]
            bound_to = content["b"]
        except (ValueError, KeyError, TypeError):
            raise InvalidCursor("The cursor is not valid: it cannot be read.") from None
        if not isinstance(last_key, dict) or not hmac.compare_digest(str(bound_to).encode(), _digest(binding).encode()):
            raise InvalidCursor("The cursor belongs to another query or another API key; start again without it.")
        return last_key

    def _sign(self, payload: str) -> str:
        return _b64encode(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())
