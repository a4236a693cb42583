"""The local runtime runs the pipeline: worker on the stream, Step Functions in moto, a webhook receiver.

The issue's walk-through on the synthesized app: a short job requeued through the API goes back to ``skipped``;
with the workspace's threshold lowered by the admin command, a second requeue runs it to ``completed`` and the
webhook receiver gets one delivery with a valid signature.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from infra.admin.cli import main as admin
from infra.local.runtime import LocalRuntime, start

pytestmark = pytest.mark.slow

SETTLE_SECONDS = 30
BELOW_MINIMUM = re.compile(r"^duration_below_minimum:(\d+)<(\d+)$")


def _poll(api: httpx.Client, job_id: str, headers: dict[str, str], settled: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        job: dict[str, Any] = api.get(f"/api/v1/jobs/{job_id}", headers=headers).json()
        if job["status"] in settled or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def test_requeued_short_job_is_skipped_then_completes_once_the_threshold_is_lowered(
    runtime: LocalRuntime, api: httpx.Client, demo: dict[str, Any]
) -> None:
    # Given a workspace's skipped short job
    key = next(key for key in demo["api_keys"] if key["scope"] == "workspace")
    headers = {"Authorization": f"Bearer {key['key']}"}
    skipped = api.get("/api/v1/jobs", params={"status": "skipped", "limit": 100}, headers=headers).json()["jobs"]
    job = next(job for job in skipped if BELOW_MINIMUM.match(job["skipped_reason"] or ""))
    job_id = job["job_id"]
    deliveries_before = len(runtime.webhooks.deliveries)

    # When it is requeued through the API
    assert api.patch(f"/api/v1/jobs/{job_id}/status", headers=headers, json={"status": "queued"}).status_code == 200
    first = _poll(api, job_id, headers, {"skipped", "completed", "failed"})

    # Then the worker skips it again, for its duration, and it counts one requeue
    assert first["status"] == "skipped"
    assert BELOW_MINIMUM.match(first["skipped_reason"])
    assert first["source_metadata"]["requeue_count"] == 1

    # When the operator lowers the workspace's threshold and it is requeued again
    assert (
        admin(
            [
                "--local",
                "--local-state",
                str(runtime.demo_file),
                "config",
                "set",
                "--level",
                "workspace",
                "--id",
                key["scope_id"],
                "processing.filters.min_duration_seconds",
                "5",
            ]
        )
        == 0
    )
    started = time.monotonic()
    assert api.patch(f"/api/v1/jobs/{job_id}/status", headers=headers, json={"status": "queued"}).status_code == 200
    final = _poll(api, job_id, headers, {"completed", "failed"})
    took = time.monotonic() - started

    # Then the pipeline runs it through every stage to completed, in seconds
    assert final["status"] == "completed", final
    statuses = [event["status"] for event in final["history"]]
    last_queued = len(statuses) - 1 - statuses[::-1].index("queued")
    assert statuses[last_queued:] == ["queued", "transcribing", "analyzing", "publishing", "completed"]
    assert final["result"]["webhooks_delivered"] == 1
    assert took < SETTLE_SECONDS

    # And the receiver got one signed delivery about it, whose signature checks out with the seeded secret
    deliveries = runtime.webhooks.wait_for(deliveries_before + 1, timeout=5)[deliveries_before:]
    assert len(deliveries) == 1
    (delivery,) = deliveries
    assert delivery.signature_ok
    assert delivery.json()["job_id"] == job_id
    assert delivery.json()["status"] == "completed"
    fields = dict(part.split("=", 1) for part in delivery.headers["X-Signature"].split(","))
    expected = hmac.new(
        runtime.webhooks.secret.encode(), f"{fields['t']}.".encode() + delivery.body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(fields["v1"], expected)


def test_a_stage_failure_ends_the_job_failed_with_the_stage_and_error(
    runtime: LocalRuntime, api: httpx.Client, demo: dict[str, Any]
) -> None:
    # Given a skipped job whose call came without a transcript, in a workspace whose threshold lets it through
    key = [key for key in demo["api_keys"] if key["scope"] == "workspace"][-1]
    headers = {"Authorization": f"Bearer {key['key']}"}
    skipped = api.get("/api/v1/jobs", params={"status": "skipped", "limit": 100}, headers=headers).json()["jobs"]
    job_id = skipped[0]["job_id"]
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=demo["aws_endpoint_url"],
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    dynamodb.update_item(
        TableName=demo["table_name"],
        Key={"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "JOB"}},
        UpdateExpression="REMOVE source_metadata.transcription",
    )
    admin_args = ["--local", "--local-state", str(runtime.demo_file), "config", "set", "--level", "workspace"]
    assert admin([*admin_args, "--id", key["scope_id"], "processing.filters.min_duration_seconds", "0"]) == 0

    # When it is requeued
    assert api.patch(f"/api/v1/jobs/{job_id}/status", headers=headers, json={"status": "queued"}).status_code == 200
    final = _poll(api, job_id, headers, {"completed", "failed"})

    # Then the state machine's catch records where and why it failed
    assert final["status"] == "failed", final
    assert final["failure"]["stage"] == "transcribing"
    assert final["failure"]["error"] == "PermanentStageError"
    assert "no transcript" in final["failure"]["message"]
    assert [event["status"] for event in final["history"]][-3:] == ["queued", "transcribing", "failed"]


def test_runtime_runs_every_mapping_schedule_and_state_machine_of_the_template(runtime: LocalRuntime) -> None:
    template = runtime.template
    assert [state.mapping for state in runtime.streams.mappings] == list(template.event_source_mappings)
    assert [state.mapping for state in runtime.queues.mappings] == list(template.sqs_event_source_mappings)
    assert [entry.schedule for entry in runtime.scheduler.entries] == list(template.schedules)
    assert len(runtime.state_machine_arns) == len(template.of_type("AWS::StepFunctions::StateMachine"))
    assert runtime.streams.alive
    assert runtime.scheduler.alive
    assert runtime.webhooks.alive


def test_stop_ends_every_thread_it_started(template_path: Path, tmp_path: Path) -> None:
    # Given a runtime that has run a pipeline execution
    handle = start(port=0, template_path=template_path, demo_file=tmp_path / "demo.json", callrail_sample=False)
    try:
        key = handle.demo.key_for("workspace")
        headers = {"Authorization": f"Bearer {key.key}"}
        with httpx.Client(base_url=handle.api_url, timeout=10) as api:
            jobs = api.get("/api/v1/jobs", params={"status": "skipped", "limit": 100}, headers=headers).json()
            job_id = next(job["job_id"] for job in jobs["jobs"] if BELOW_MINIMUM.match(job["skipped_reason"]))
            api.patch(f"/api/v1/jobs/{job_id}/status", headers=headers, json={"status": "queued"})
            _poll(api, job_id, headers, {"skipped", "completed", "failed"})
    finally:
        # When it stops
        handle.stop()

    # Then the workers, the servers and moto's execution threads have all ended
    assert not handle.streams.alive
    assert not handle.queues.alive
    assert not handle.scheduler.alive
    assert not handle.webhooks.alive
    assert handle.leftover_threads() == [], [thread.name for thread in handle.leftover_threads()]
    assert threading.active_count() >= 1
