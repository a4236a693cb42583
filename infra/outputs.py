"""The stack's outputs: what the admin command, the smoke test and operators read from a deployed stage."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aws_cdk as cdk

if TYPE_CHECKING:
    from infra.stack import GensailStack


def add_outputs(stack: GensailStack) -> None:
    """Every output of a stage's stack (``aws cloudformation describe-stacks`` shows them)."""
    cdk.CfnOutput(stack, "ApiUrl", value=stack.api.rest_api.url, description="Base URL of the jobs API stage")
    cdk.CfnOutput(stack, "TableName", value=stack.data.table.table_name)
    cdk.CfnOutput(
        stack,
        "ConfigParameterPrefix",
        value=stack.parameters.config,
        description="SSM prefix of the hierarchical processing config",
    )
    cdk.CfnOutput(
        stack,
        "SecretsParameterPrefix",
        value=stack.parameters.secrets,
        description="SSM prefix of the SecureString secrets (webhooks/ and callrail/ below it)",
    )
    cdk.CfnOutput(stack, "StageName", value=stack.stage.name)
    cdk.CfnOutput(stack, "DashboardName", value=stack.stage.dashboard_name)
    cdk.CfnOutput(stack, "CursorSecretArn", value=stack.cursor_secret.secret_arn)
    cdk.CfnOutput(stack, "StateMachineArn", value=stack.pipeline.state_machine.state_machine_arn)
    cdk.CfnOutput(stack, "ArtifactsBucketName", value=stack.artifacts.bucket.bucket_name)
    cdk.CfnOutput(stack, "EventBusName", value=stack.event_bus.event_bus_name)
    cdk.CfnOutput(
        stack,
        "AlarmTopicArn",
        value=stack.alarm_notifications.topic.topic_arn,
        description="Every alarm notifies this topic; subscribe to it, or deploy with -c alarm_email=...",
    )
    cdk.CfnOutput(
        stack,
        "WorkerDeadLetterQueueUrl",
        value=stack.stream_worker.dead_letter_queue.queue_url,
        description="Stream records the worker gave up on",
    )
    cdk.CfnOutput(
        stack,
        "PollQueueUrl",
        value=stack.poll_queue.queue.queue_url,
        description="One message per workspace to poll (docs/ingestion.md)",
    )
    cdk.CfnOutput(
        stack,
        "ReconcileDeadLetterQueueUrl",
        value=stack.reconcile_schedule.dead_letter_queue.queue_url,
        description="Reconcile ticks that failed after their retries (docs/operations.md)",
    )
    cdk.CfnOutput(
        stack,
        "PollDispatchDeadLetterQueueUrl",
        value=stack.poll_schedule.dead_letter_queue.queue_url,
        description="Poll dispatch ticks that failed after their retries (docs/operations.md)",
    )
    cdk.CfnOutput(
        stack,
        "PollDeadLetterQueueUrl",
        value=stack.poll_queue.dead_letter_queue.queue_url,
        description="Workspace polls that failed three times (docs/operations.md)",
    )
