"""Write ``docs/openapi.json`` from the API code: the one source of the routes API Gateway serves.

``python -m infra.openapi`` regenerates the file; ``infra.api`` reads it at synth time, so the deployed routes
and their authorization are exactly the ones the API documents.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from infra import REPO_ROOT

OPENAPI_PATH = REPO_ROOT / "docs" / "openapi.json"


def render_openapi() -> str:
    """The OpenAPI document generated from ``functions.api.handler``, as the text stored in the repo."""
    # Imported here: synth reads the stored document and never needs the function's dependencies.
    from functions.api.handler import openapi_document

    return json.dumps(openapi_document(), indent=2, sort_keys=False) + "\n"


def write_openapi(path: Path = OPENAPI_PATH) -> Path:
    """Regenerate the stored OpenAPI document; returns where it was written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_openapi(), encoding="utf-8")
    return path


def load_openapi(path: Path = OPENAPI_PATH) -> dict[str, Any]:
    """The stored OpenAPI document."""
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


if __name__ == "__main__":
    print(f"wrote {write_openapi().relative_to(REPO_ROOT)}")
