"""The README's config API walk-through, run as written (but for the URL and file paths) on the local runtime."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from infra.local.runtime import LocalRuntime

ROOT = Path(__file__).resolve().parents[2]
README_URL = "http://127.0.0.1:8000"
SETTLE_SECONDS = 30
MINIMUM = "processing.filters.min_duration_seconds"


def _readme_config_flow() -> str:
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    return next(block for block in blocks if "/api/v1/config/workspaces/$WS/preview" in block)


def test_readme_config_flow_lowers_the_filter_completes_a_job_and_inherits_again(
    runtime: LocalRuntime, api: httpx.Client, demo: dict[str, Any], tmp_path: Path
) -> None:
    # Given the README's commands, pointed at this runtime, its demo file and a scratch file
    assert runtime.demo_file is not None
    job_file = tmp_path / "job"
    script = (
        _readme_config_flow()
        .replace(README_URL, runtime.api_url)
        .replace(".local/demo.json", str(runtime.demo_file))
        .replace(".local/job", str(job_file))
    )
    key = next(key for key in demo["api_keys"] if key["scope"] == "workspace")
    headers = {"Authorization": f"Bearer {key['key']}"}

    # When they run in bash, stopping at the first failure
    completed = subprocess.run(  # noqa: S603 - bash running the README's commands
        ["/bin/bash", "-e", "-o", "pipefail", "-c", script], capture_output=True, text=True, timeout=120, check=False
    )

    # Then the inherited platform value is read before and after, with its source
    assert completed.returncode == 0, completed.stderr
    inherited = "{'value': 30, 'source': {'level': 'platform', 'id': None}}"
    lines = completed.stdout.splitlines()
    assert lines[0] == inherited
    assert lines[-1] == inherited
    # And the patch answered version 1 by the workspace key
    assert 'ETag: "1"' in completed.stdout
    # And the job the preview named completes, checked against the lowered filter
    job_id = job_file.read_text().strip()
    deadline = time.monotonic() + SETTLE_SECONDS
    job = api.get(f"/api/v1/jobs/{job_id}", headers=headers).json()
    while job["status"] != "completed" and time.monotonic() < deadline:
        time.sleep(0.2)
        job = api.get(f"/api/v1/jobs/{job_id}", headers=headers).json()
    assert job["status"] == "completed", job
    assert [event["status"] for event in job["history"]][-4:] == [
        "transcribing",
        "analyzing",
        "publishing",
        "completed",
    ]
    # And the history holds both changes, newest first
    history = api.get(f"/api/v1/config/workspaces/{key['scope_id']}/history", headers=headers).json()["changes"]
    assert [(entry["version"], entry["changes"]) for entry in history] == [
        (2, [{"key": MINIMUM, "old": 5, "new": None}]),
        (1, [{"key": MINIMUM, "old": None, "new": 5}]),
    ]
    assert json.dumps(history[0]["author"]) == json.dumps({"scope": "workspace", "key_id": key["key_id"]})
