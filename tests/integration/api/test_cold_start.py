"""The API handler's import leaves the garbage collector running, with the import's objects frozen out of it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PROBE = """
import gc, json
frozen_before = gc.get_freeze_count()
import functions.api.handler
print(json.dumps({"enabled": gc.isenabled(), "frozen": gc.get_freeze_count() - frozen_before,
                  "tracked_after_import": len(gc.get_objects())}))
"""


def test_importing_the_api_handler_freezes_its_objects_and_turns_collection_back_on() -> None:
    output = subprocess.run(  # noqa: S603 - this interpreter running a fixed probe
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    state = json.loads(output.stdout.strip().splitlines()[-1])

    assert state["enabled"] is True
    # The resolver, the models and boto3 are tens of thousands of objects; all of them are frozen, so the
    # collector tracks only what was allocated after the import.
    assert state["frozen"] > 20_000
    assert state["tracked_after_import"] < state["frozen"] / 10
