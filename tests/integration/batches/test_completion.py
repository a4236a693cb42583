"""The end of a batch: status, locks, and ``requeue_batch.completed`` on the bus and signed to the webhooks."""

from __future__ import annotations

import json
from typing import Any

import boto3
import httpx
import pytest

from functions.api.batch_models import RequeueBatch
from functions.batches import starter
from shared import schema
from shared.adapters.eventbridge import EventBridgePublisher
from shared.aws import client as aws_client
from shared.batches.completion import BatchAnnouncer, BatchFinisher, completed_event
from shared.batches.models import BatchStatus
from shared.batches.runs import BatchRuns
from shared.batches.store import BatchStore
from shared.config.hierarchy import ConfigLevel, ConfigStore
from shared.dynamo import from_item, to_item
from shared.pipeline.errors import TransientStageError
from shared.pipeline.publishing import WebhookDelivery
from shared.tenants.registry import TenantRegistry
from tests.conftest import Tenants
from tests.integration.batches.conftest import set_config, skipped_jobs
from tests.integration.processing.stage_support import SECRET, SECRET_PARAMETER, verify
from tests.support.aws import CONFIG_PREFIX, TABLE_NAME
from tests.support.batches import batch_runner, run_to_end, store_batch, stored_batch
from tests.support.events import FakeContext

BUS = "gensail-test-jobs"
HOOK = "https://hooks.example.test/batches"


def lock_holder(workspace_id: str) -> str | None:
    item = aws_client("dynamodb").get_item(TableName=TABLE_NAME, Key=to_item(schema.requeue_lock_key(workspace_id)))
    return from_item(item["Item"])["batch_id"] if "Item" in item else None


def finisher() -> BatchFinisher:
    return BatchFinisher(BatchRuns(TABLE_NAME, aws_client("dynamodb")), BatchStore(TABLE_NAME, aws_client("dynamodb")))


def test_finish_ends_the_batch_once_and_releases_only_its_own_locks(tenants: Tenants) -> None:
    first, second = tenants.workspace(0), tenants.workspace(1)
    batch = store_batch(first.partner_id, [first.workspace_id, second.workspace_id])
    # a newer batch took the second workspace's lock over (the API's take-over of a stale lock)
    aws_client("dynamodb").put_item(
        TableName=TABLE_NAME, Item=to_item({**schema.requeue_lock_key(second.workspace_id), "batch_id": "rb_newer"})
    )
    event = finisher().finish(batch.batch_id, BatchStatus.CANCELLED)
    assert event["event"] == "requeue_batch.completed"
    assert event["status"] == "cancelled"
    assert event["finished_at"]
    assert lock_holder(first.workspace_id) is None
    assert lock_holder(second.workspace_id) == "rb_newer"
    # a retried finish (or the failure path after it) changes nothing
    again = finisher().finish(batch.batch_id, BatchStatus.FAILED)
    assert again == event
    assert stored_batch(batch.batch_id).status is BatchStatus.CANCELLED


@pytest.fixture
def bus_events(aws: None) -> Any:
    """The bus, with every ``gensail.requeue`` event copied to a queue the test reads."""
    events, sqs = boto3.client("events"), boto3.client("sqs")
    events.create_event_bus(Name=BUS)
    url = sqs.create_queue(QueueName="batch-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="batches", EventBusName=BUS, EventPattern=json.dumps({"source": ["gensail.requeue"]}))
    events.put_targets(Rule="batches", EventBusName=BUS, Targets=[{"Id": "queue", "Arn": arn}])

    def read() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(message["Body"]) for message in messages]

    return read


def announcer(endpoint: Any) -> BatchAnnouncer:
    ssm = boto3.client("ssm")
    return BatchAnnouncer(
        events=EventBridgePublisher(BUS, aws_client("events")),
        config=ConfigStore(CONFIG_PREFIX, aws_client("ssm")),
        workspaces=TenantRegistry(TABLE_NAME, aws_client("dynamodb")),
        webhooks=WebhookDelivery(http=httpx.Client(transport=httpx.MockTransport(endpoint)), sleep=lambda _: None),
        secret=lambda name: ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"].encode(),
    )


def test_the_completion_event_goes_to_the_bus_and_signed_to_each_workspaces_webhooks(
    tenants: Tenants, bus_events: Any
) -> None:
    # Given a finished batch over two workspaces, one of which has a webhook
    first, second = tenants.workspace(0), tenants.workspace(1)
    boto3.client("ssm").put_parameter(Name=SECRET_PARAMETER, Value=SECRET.decode(), Type="SecureString")
    set_config(ConfigLevel.WORKSPACE, first.workspace_id, "processing.webhooks.urls", [HOOK])
    set_config(ConfigLevel.WORKSPACE, first.workspace_id, "processing.webhooks.secret_parameter", SECRET_PARAMETER)
    skipped_jobs(first, [40, 40])
    batch = store_batch(first.partner_id, [first.workspace_id, second.workspace_id])
    run_to_end(batch_runner(), batch)
    event = finisher().finish(batch.batch_id, BatchStatus.COMPLETED)
    received: list[httpx.Request] = []

    def endpoint(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(200)

    # When it is announced
    assert announcer(endpoint).announce(event) == 1

    # Then the bus has it, with the final counts and status
    (on_bus,) = bus_events()
    assert on_bus["detail-type"] == "Requeue Batch Completed"
    assert on_bus["detail"]["counts"]["requeued"] == 2
    assert on_bus["detail"]["status"] == "completed"
    assert "progress" not in on_bus["detail"]
    assert "partner_id" not in on_bus["detail"]
    # and the workspace's webhook got it signed like job events, naming the workspace
    (request,) = received
    assert verify(SECRET, request)
    body = json.loads(request.content)
    assert body == {**completed_event(stored_batch(batch.batch_id)), "workspace_id": first.workspace_id}
    # and the event carries exactly the batch as the API answers it, so the two cannot drift apart
    assert set(on_bus["detail"]) == {"event", *RequeueBatch.model_fields}


def test_a_webhook_that_keeps_failing_is_a_transient_error_for_the_state_machine_to_retry(
    tenants: Tenants, bus_events: Any
) -> None:
    workspace = tenants.workspace(0)
    boto3.client("ssm").put_parameter(Name=SECRET_PARAMETER, Value=SECRET.decode(), Type="SecureString")
    set_config(ConfigLevel.WORKSPACE, workspace.workspace_id, "processing.webhooks.urls", [HOOK])
    set_config(ConfigLevel.WORKSPACE, workspace.workspace_id, "processing.webhooks.secret_parameter", SECRET_PARAMETER)
    batch = store_batch(workspace.partner_id, [workspace.workspace_id])
    event = finisher().finish(batch.batch_id, BatchStatus.COMPLETED)
    with pytest.raises(TransientStageError):
        announcer(lambda _request: httpx.Response(503)).announce(event)


def test_the_starter_starts_one_execution_per_batch_named_after_it(
    tenants: Tenants, monkeypatch: pytest.MonkeyPatch
) -> None:
    sfn = boto3.client("stepfunctions")
    definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
    arn = sfn.create_state_machine(name="batches", definition=definition, roleArn="arn:aws:iam::123456789012:role/x")[
        "stateMachineArn"
    ]
    monkeypatch.setenv("STATE_MACHINE_ARN", arn)
    starter._settings.cache_clear()
    workspace = tenants.workspace(0)
    batch = store_batch(workspace.partner_id, [workspace.workspace_id])
    image = aws_client("dynamodb").get_item(TableName=TABLE_NAME, Key=to_item(schema.requeue_batch_key(batch.batch_id)))
    record = {
        "eventID": "1",
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "dynamodb": {"NewImage": image["Item"], "SequenceNumber": "1", "Keys": {}},
    }
    # When the record is delivered twice
    for _ in range(2):
        assert starter.lambda_handler({"Records": [record]}, FakeContext()) == {"batchItemFailures": []}  # type: ignore[arg-type]
    starter._settings.cache_clear()
    # Then one execution runs, named after the batch, with its partner
    (execution,) = sfn.list_executions(stateMachineArn=arn)["executions"]
    assert execution["name"] == batch.batch_id
    started = sfn.describe_execution(executionArn=execution["executionArn"])
    assert json.loads(started["input"]) == {"batch_id": batch.batch_id, "partner_id": workspace.partner_id}
