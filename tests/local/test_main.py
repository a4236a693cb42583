"""``python -m infra.local`` as ``make run`` starts it: serves, stops cleanly on Ctrl-C, starts fresh every time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra import REPO_ROOT
from tests.local.conftest import free_port

pytestmark = pytest.mark.slow

START_TIMEOUT_SECONDS = 60
SYNTH_START_TIMEOUT_SECONDS = 240  # the first start synthesizes the app, as `make run` does
STOP_TIMEOUT_SECONDS = 15


def _run_until_ready(
    template_path: Path | None, demo_file: Path, port: int
) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """``python -m infra.local`` on ``port``, serving ``template_path`` or, without one, synthesizing the app."""
    template = ["--template", str(template_path)] if template_path is not None else []
    process = subprocess.Popen(  # noqa: S603 - this interpreter running this repo's module
        [sys.executable, "-m", "infra.local", *template, "--demo-file", str(demo_file)],
        cwd=REPO_ROOT,
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + (START_TIMEOUT_SECONDS if template_path else SYNTH_START_TIMEOUT_SECONDS)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"python -m infra.local exited early:\n{process.communicate()[0]}")
        if demo_file.exists():
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/v1/jobs", timeout=2)
                return process, json.loads(demo_file.read_text(encoding="utf-8"))
            except httpx.TransportError:
                pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"python -m infra.local did not start in time:\n{process.communicate()[0]}")


def _interrupt(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGINT)
    try:
        output, _ = process.communicate(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        raise AssertionError(f"python -m infra.local did not stop on SIGINT:\n{output}") from None
    return process.returncode, output


def test_module_serves_prints_keys_stops_cleanly_on_ctrl_c_and_starts_fresh(
    template_path: Path, tmp_path: Path
) -> None:
    # Given `python -m infra.local` started on PORT as `make run` starts it (synthesizing the app)
    port = free_port()
    demo_file = tmp_path / "demo.json"
    process, demo = _run_until_ready(None, demo_file, port)
    key = next(key for key in demo["api_keys"] if key["scope"] == "workspace")

    # When a demo key calls the API and Ctrl-C follows
    listed = httpx.get(
        f"http://127.0.0.1:{port}/api/v1/jobs",
        params={"status": "skipped"},
        headers={"Authorization": f"Bearer {key['key']}"},
        timeout=10,
    )
    code, output = _interrupt(process)

    # Then it answered, printed URLs and keys, and stopped with exit code 0
    assert listed.status_code == 200
    assert listed.json()["jobs"]
    assert demo["api_url"] == f"http://127.0.0.1:{port}"
    assert code == 0, output
    assert f"http://127.0.0.1:{port}/api/v1/docs" in output
    assert key["key"] in output
    assert "Local runtime stopped." in output
    assert "Traceback" not in output
    # and announced the CallRail sample server, which workspace skips everything and which has the low limit
    assert f"{demo['callrail_api_url']}   CallRail SAMPLE data" in output
    for account in demo["callrail_sample_accounts"]:
        if account["setting"] == "skip_all_on_ingest":
            assert f"({account['workspace_id']}): skip_all_on_ingest" in output
        if account["setting"] == "max_calls_per_workspace=3":
            assert f"({account['workspace_id']}): max_calls_per_workspace 3" in output

    # When the runtime starts again (on a port of its own: between the two runs a parallel test may take the first)
    port = free_port()
    second, second_demo = _run_until_ready(template_path, tmp_path / "second.json", port)
    try:
        old = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/jobs", headers={"Authorization": f"Bearer {key['key']}"}, timeout=10
        )
    finally:
        code, output = _interrupt(second)

    # Then the old key is unknown: the data is new
    assert old.status_code == 401
    assert {key["key"] for key in second_demo["api_keys"]}.isdisjoint({key["key"] for key in demo["api_keys"]})
    assert code == 0, output
