"""Config API tests reuse the integration tier's in-process API fixture."""

from __future__ import annotations

from tests.integration.api.conftest import api

__all__ = ["api"]
