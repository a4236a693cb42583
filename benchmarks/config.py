"""Config API figures: AWS requests per effective read (first and cached), per PATCH, per preview of 10,000
skipped jobs, and the worker's SSM reads for 1,000 jobs requeued right after a change."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import boto3
from moto import mock_aws

from benchmarks.counting import counting_requests
from functions.api import config_routes
from functions.api import handler as api
from functions.worker import handler as worker
from infra.worker import STREAM_BATCH_SIZE
from shared.access import Caller, ScopeKind
from shared.auth.keys import ApiKeyRepository
from shared.aws import client as aws_client
from shared.aws import reset_clients
from shared.config.hierarchy import ConfigStore
from shared.jobs.models import JobStatus
from shared.jobs.repository import job_item
from shared.tenants.registry import Workspace
from tests.support.aws import TABLE_NAME, create_cursor_secret, create_table
from tests.support.events import FakeContext, api_event, stream_record
from tests.support.factories import create_workspace, make_job

CONFIG_PREFIX = "/gensail/config"
PREVIEW_JOBS = int(os.environ.get("BENCH_PREVIEW_JOBS", "10000"))
REQUEUED_JOBS = int(os.environ.get("BENCH_REQUEUED_JOBS", "1000"))
CONFIG_PATH = "/api/v1/config/workspaces/ws_b"
MERGE_PATCH = "application/merge-patch+json"


def _requests(action: Callable[[], Any]) -> dict[str, Any]:
    with counting_requests() as calls:
        action()
    return {"requests": sum(calls.values()), "by_operation": dict(calls)}


def _set_up() -> tuple[Workspace, Caller, str]:
    create_table(boto3.client("dynamodb"))
    arn = boto3.client("stepfunctions").create_state_machine(
        name="pipeline",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/pipeline",
    )["stateMachineArn"]
    os.environ.update(
        {
            "TABLE_NAME": TABLE_NAME,
            "CONFIG_PREFIX": CONFIG_PREFIX,
            "STATE_MACHINE_ARN": arn,
            "CURSOR_SECRET_ARN": create_cursor_secret(boto3.client("secretsmanager")),
            "CONFIG_CACHE_SECONDS": "60",
        }
    )
    workspace = create_workspace("b", "Bench")
    _, record = ApiKeyRepository(TABLE_NAME, aws_client("dynamodb")).create(
        ScopeKind.WORKSPACE, "ws_b", "bench", tenant_exists=True
    )
    api._service.cache_clear()
    config_routes.config_services.cache_clear()
    worker._intake.cache_clear()
    return workspace, record.caller(), arn


def _call(method: str, path: str, caller: Caller, body: Any = None, content_type: str | None = None) -> Any:
    event = api_event(method, path, caller, body)
    if content_type:
        event["headers"]["Content-Type"] = content_type
        event["multiValueHeaders"]["Content-Type"] = [content_type]
    response = api.lambda_handler(event, FakeContext())
    assert response["statusCode"] == 200, response["body"]
    return json.loads(response["body"])


def _store_skipped(workspace: Workspace, count: int) -> list[str]:
    """Skipped jobs written in batches (setup, not measured): 5..64 s calls under the default 30 s minimum."""
    dynamodb = boto3.client("dynamodb")
    ids = []
    items = []
    for index in range(count):
        job = make_job(workspace, duration=5 + index % 60)
        ids.append(job.job_id)
        items.append({"PutRequest": {"Item": job_item(job)}})
    for start in range(0, len(items), 25):
        dynamodb.batch_write_item(RequestItems={TABLE_NAME: items[start : start + 25]})
    return ids


def api_figures() -> dict[str, Any]:
    with mock_aws():
        reset_clients()
        workspace, caller, _ = _set_up()
        effective_first = _requests(lambda: _call("GET", f"{CONFIG_PATH}/effective", caller))
        effective_cached = _requests(lambda: _call("GET", f"{CONFIG_PATH}/effective", caller))
        patch = {"processing": {"filters": {"min_duration_seconds": 20}}}
        patch_first_write = _requests(lambda: _call("PATCH", CONFIG_PATH, caller, patch, MERGE_PATCH))
        patch = {"processing": {"filters": {"min_duration_seconds": 25}}}
        patch_later_write = _requests(lambda: _call("PATCH", CONFIG_PATH, caller, patch, MERGE_PATCH))
        effective_after_write = _requests(lambda: _call("GET", f"{CONFIG_PATH}/effective", caller))
        _store_skipped(workspace, PREVIEW_JOBS)
        body = {"level": "workspace", "id": "ws_b", "patch": {"processing": {"filters": {"min_duration_seconds": 10}}}}
        started = time.perf_counter()
        previewed: dict[str, Any] = {}
        preview = _requests(lambda: previewed.update(_call("POST", f"{CONFIG_PATH}/preview", caller, body)))
        preview_seconds = time.perf_counter() - started
        reset_clients()
    return {
        "effective_read_first": {
            **effective_first,
            "note": "first read of a process: the workspace's ancestry (then cached) and the four levels' heads; "
            "levels never changed are read once from SSM and cached",
        },
        "effective_read_cached": {**effective_cached, "target": "1 BatchGetItem"},
        "effective_read_after_a_write": effective_after_write,
        "patch_first_write_of_a_level": patch_first_write,
        "patch": {
            **patch_later_write,
            "note": "GetItem (head), TransactWriteItems (head + history), PutParameter, GetItem (head again)",
        },
        f"preview_of_{PREVIEW_JOBS}_skipped_jobs": {
            **preview,
            "seconds_under_moto": round(preview_seconds, 2),
            "skipped_jobs": previewed["skipped_jobs"],
            "would_pass": previewed["would_pass"],
        },
    }


def worker_figures() -> dict[str, Any]:
    with mock_aws():
        reset_clients()
        workspace, caller, _ = _set_up()
        ids = _store_skipped(workspace, 2 * REQUEUED_JOBS)
        # A warm worker: its config cached before the change
        warm = make_job(workspace, status=JobStatus.QUEUED, duration=1)
        boto3.client("dynamodb").put_item(TableName=TABLE_NAME, Item=job_item(warm))
        _deliver([stream_record(job_item(warm))])
        first_resolve = _requests(lambda: ConfigStore(CONFIG_PREFIX, aws_client("ssm")).resolve(workspace.path))
        store = ConfigStore(CONFIG_PREFIX, aws_client("ssm"))
        store.resolve(workspace.path)
        cached_resolve = _requests(lambda: store.resolve(workspace.path))
        # The change, then every job requeued, then the worker over the stream in its batches
        patch = {"processing": {"filters": {"min_duration_seconds": 10}}}
        _call("PATCH", CONFIG_PATH, caller, patch, MERGE_PATCH)
        for job_id in ids[:REQUEUED_JOBS]:
            _call("PATCH", f"/api/v1/jobs/{job_id}/status", caller, {"status": "queued"})
        burst = _requests(lambda: _deliver_in_batches(ids[:REQUEUED_JOBS]))
        # The worst case: each requeue reaches the worker alone, before the next requeue is made
        interleaved: dict[str, int] = {}
        for job_id in ids[REQUEUED_JOBS:]:
            _call("PATCH", f"/api/v1/jobs/{job_id}/status", caller, {"status": "queued"})
            counted = _requests(partial(_deliver_in_batches, [job_id]))
            for operation in ("ssm.GetParameters", "dynamodb.BatchGetItem"):
                interleaved[operation] = interleaved.get(operation, 0) + counted["by_operation"].get(operation, 0)
        reset_clients()
    return {
        "worker_config_resolve_first": first_resolve,
        "worker_config_resolve_cached": cached_resolve,
        f"config_reads_per_{REQUEUED_JOBS}_jobs_requeued_right_after_a_change": {
            "ssm_get_parameters": burst["by_operation"].get("ssm.GetParameters", 0),
            "dynamodb_batch_get_item": burst["by_operation"].get("dynamodb.BatchGetItem", 0),
            "stream_batch_size": STREAM_BATCH_SIZE,
            "note": "requeued in a burst, then delivered in stream batches: one read of the config heads serves "
            "every job requeued before it; SSM is not read",
        },
        f"config_reads_per_{REQUEUED_JOBS}_jobs_each_requeued_after_the_previous_was_processed": {
            "ssm_get_parameters": interleaved.get("ssm.GetParameters", 0),
            "dynamodb_batch_get_item": interleaved.get("dynamodb.BatchGetItem", 0),
            "note": "the bound: one BatchGetItem of heads per stream batch that holds a job requeued after the "
            "last read; SSM is never read for it",
        },
    }


def _deliver(records: list[dict[str, Any]]) -> None:
    result = worker.lambda_handler({"Records": records}, FakeContext())
    assert result == {"batchItemFailures": []}, result


def _deliver_in_batches(job_ids: list[str]) -> None:
    dynamodb = boto3.client("dynamodb")
    records = []
    for job_id in job_ids:
        item = dynamodb.get_item(TableName=TABLE_NAME, Key={"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "JOB"}})["Item"]
        records.append(stream_record(item, {**item, "status": {"S": "skipped"}}))
    for start in range(0, len(records), STREAM_BATCH_SIZE):
        _deliver(records[start : start + STREAM_BATCH_SIZE])


def config_figures() -> dict[str, Any]:
    return {**api_figures(), **worker_figures()}
