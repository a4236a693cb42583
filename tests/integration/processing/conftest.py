"""The worker in-process under moto, with a state machine whose runs are only recorded."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from functions.worker import handler as worker
from shared.aws import client as aws_client
from shared.config.hierarchy import ConfigLevel, ConfigStore, set_path
from shared.jobs.models import Job
from tests.integration.api.conftest import api  # noqa: F401  (the API fixture, reused to requeue)
from tests.integration.processing.stage_support import received, stages, transcribe  # noqa: F401  (the stages' fixtures)
from tests.support.aws import TABLE_NAME
from tests.support.events import FakeContext, stream_record

CONFIG_PREFIX = "/gensail/config"
PASS_DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})


@pytest.fixture
def state_machine(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    sfn = boto3.client("stepfunctions")
    arn = sfn.create_state_machine(
        name="pipeline", definition=PASS_DEFINITION, roleArn="arn:aws:iam::123456789012:role/pipeline"
    )["stateMachineArn"]
    monkeypatch.setenv("CONFIG_PREFIX", CONFIG_PREFIX)
    monkeypatch.setenv("STATE_MACHINE_ARN", arn)
    worker._intake.cache_clear()
    yield arn
    worker._intake.cache_clear()


def executions(arn: str) -> list[str]:
    """Names of the pipeline runs started so far."""
    listed = boto3.client("stepfunctions").list_executions(stateMachineArn=arn)["executions"]
    return sorted(execution["name"] for execution in listed)


def set_config(level: ConfigLevel, tenant_id: str | None, path: str, value: object) -> None:
    store = ConfigStore(CONFIG_PREFIX, aws_client("ssm"))
    store.write_document(level, tenant_id, set_path(store.read_document(level, tenant_id), path, value))
    worker._intake.cache_clear()  # a new cache window, as after max_age


def stored_image(job_id: str) -> dict[str, Any]:
    """The job's item in wire form, as the stream's NewImage carries it."""
    item = boto3.client("dynamodb").get_item(
        TableName=TABLE_NAME, Key={"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "JOB"}}, ConsistentRead=True
    )["Item"]
    return dict(item)


def record_for(job: Job, sequence: int = 1) -> dict[str, Any]:
    image = stored_image(job.job_id)
    old = {**image, "status": {"S": "skipped"}} if job.requeue_count else None
    return stream_record(image, old, sequence=sequence)


Deliver = Callable[[list[dict[str, Any]]], dict[str, Any]]


@pytest.fixture
def deliver(state_machine: str) -> Deliver:
    def send(records: list[dict[str, Any]]) -> dict[str, Any]:
        return worker.lambda_handler({"Records": records}, FakeContext())  # type: ignore[arg-type]

    return send
