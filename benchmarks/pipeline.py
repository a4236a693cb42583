"""Pipeline figures: SSM calls per 1,000 jobs of one workspace, AWS requests per job from queued to completed
(builtin analyzer, source transcript), and worker throughput under moto."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import boto3
from moto import mock_aws

from benchmarks.counting import counting_requests
from functions.worker import handler as worker
from shared.adapters.eventbridge import EventBridgePublisher
from shared.adapters.s3 import S3ArtifactStore
from shared.adapters.transcribe import AwsTranscribe
from shared.aws import client as aws_client
from shared.aws import reset_clients
from shared.config.hierarchy import ConfigStore
from shared.jobs.models import JobStatus
from shared.jobs.repository import JobRepository, job_item
from shared.pipeline.publishing import WebhookDelivery
from shared.pipeline.stages import PipelineStages, StageServices
from shared.tenants.registry import TenantRegistry
from tests.support.aws import TABLE_NAME, create_table
from tests.support.events import FakeContext, stream_record
from tests.support.factories import make_job

JOBS = int(os.environ.get("BENCH_PIPELINE_JOBS", "1000"))
BATCH = 25
CONFIG_PREFIX = "/gensail/config"
TRANSCRIPT = "Agent: Thanks for calling Gensail, how can I help?\nCaller: I would like to change my plan, please."


def _set_up() -> tuple[Any, str]:
    create_table(boto3.client("dynamodb"))
    registry = TenantRegistry(TABLE_NAME, aws_client("dynamodb"))
    registry.create_partner("Bench", "ptn_b")
    registry.create_organization("ptn_b", "Bench org", "org_b")
    workspace = registry.create_workspace("org_b", "Bench ws", "ws_b")
    arn = boto3.client("stepfunctions").create_state_machine(
        name="pipeline",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/pipeline",
    )["stateMachineArn"]
    os.environ.update({"TABLE_NAME": TABLE_NAME, "CONFIG_PREFIX": CONFIG_PREFIX, "STATE_MACHINE_ARN": arn})
    return workspace, arn


def worker_figures() -> dict[str, Any]:
    with mock_aws():
        reset_clients()
        workspace, _ = _set_up()
        worker._intake.cache_clear()
        dynamodb = boto3.client("dynamodb")
        records = []
        for index in range(JOBS):
            job = make_job(workspace, status=JobStatus.QUEUED, duration=10 + index % 50)
            item = job_item(job)
            dynamodb.put_item(TableName=TABLE_NAME, Item=item)
            records.append(stream_record(item, sequence=index))
        context: Any = FakeContext()
        started = time.perf_counter()
        with counting_requests() as calls:
            for offset in range(0, JOBS, BATCH):
                result = worker.lambda_handler({"Records": records[offset : offset + BATCH]}, context)
                assert not result["batchItemFailures"]
        elapsed = time.perf_counter() - started
        reset_clients()
    ssm_calls = sum(count for operation, count in calls.items() if operation.startswith("ssm."))
    return {
        "jobs": JOBS,
        "ssm_calls_for_these_jobs_of_one_workspace": ssm_calls,
        "ssm_target": "1 per cache window (60 s); every job here falls in one window",
        "requests_by_operation": dict(calls),
        "worker_throughput_jobs_per_second_under_moto": round(JOBS / elapsed, 1),
    }


def requests_per_completed_job() -> dict[str, Any]:
    with mock_aws():
        reset_clients()
        workspace, _ = _set_up()
        boto3.client("s3").create_bucket(Bucket="bench-artifacts")
        boto3.client("events").create_event_bus(Name="gensail-jobs")
        worker._intake.cache_clear()
        job = make_job(workspace, status=JobStatus.QUEUED, duration=75, source_metadata={"transcription": TRANSCRIPT})
        item = job_item(job)
        boto3.client("dynamodb").put_item(TableName=TABLE_NAME, Item=item)
        stages = PipelineStages(
            StageServices(
                jobs=JobRepository(TABLE_NAME, aws_client("dynamodb")),
                config=ConfigStore(CONFIG_PREFIX, aws_client("ssm")),
                artifacts=S3ArtifactStore("bench-artifacts", aws_client("s3")),
                events=EventBridgePublisher("gensail-jobs", aws_client("events")),
                transcribe=lambda: AwsTranscribe("bench-artifacts", aws_client("transcribe"), aws_client("s3")),
                bedrock=lambda model: None,  # type: ignore[arg-type,return-value]
                webhooks=WebhookDelivery(),
                secret=lambda name: b"",
            )
        )
        context: Any = FakeContext()
        with counting_requests() as calls:
            worker.lambda_handler({"Records": [stream_record(item)]}, context)
            stages.start_transcription(job.job_id, 0)
            stages.analyze(job.job_id, 0)
            stages.publish(job.job_id, 0)
        stored = JobRepository(TABLE_NAME, aws_client("dynamodb")).get(job.job_id)
        assert stored is not None
        assert stored.status is JobStatus.COMPLETED
        reset_clients()
    return {
        "requests": sum(calls.values()),
        "by_operation": dict(calls),
        "note": "worker intake plus the three stages; GetParameters once for the worker and once for the stages "
        "(in the cloud each stage function has its own cache, so up to once per function per cache window)",
    }


def pipeline_figures() -> dict[str, Any]:
    return {"worker": worker_figures(), "per_completed_job": requests_per_completed_job()}
