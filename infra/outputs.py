"""The stack's outputs: what the admin command, the smoke test and operators read from a deployed stage."""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk

from infra.naming import OUTPUT_API_URL, OUTPUT_CONFIG_PREFIX, OUTPUT_TABLE_NAME

DESCRIPTIONS = {
    OUTPUT_API_URL: "Base URL of the jobs API stage",
    OUTPUT_TABLE_NAME: "The jobs table (jobs, tenants, keys, config documents)",
    OUTPUT_CONFIG_PREFIX: "SSM prefix of the hierarchical processing config",
    "SecretsParameterPrefix": "SSM prefix of the SecureString secrets (webhooks/ and callrail/ below it)",
    "AlarmTopicArn": "Every alarm notifies this topic; subscribe to it, or deploy with -c alarm_email=...",
    "WorkerDeadLetterQueueUrl": "Stream records the worker gave up on",
    "PollQueueUrl": "One message per workspace to poll (docs/ingestion.md)",
    "ReconcileDeadLetterQueueUrl": "Reconcile ticks that failed after their retries (docs/operations.md)",
    "PollDispatchDeadLetterQueueUrl": "Poll dispatch ticks that failed after their retries (docs/operations.md)",
    "PollDeadLetterQueueUrl": "Workspace polls that failed three times (docs/operations.md)",
}


def add_outputs(stack: cdk.Stack, values: Mapping[str, str]) -> None:
    """One output per name in ``values`` (``aws cloudformation describe-stacks`` shows them)."""
    for name, value in values.items():
        cdk.CfnOutput(stack, name, value=value, description=DESCRIPTIONS.get(name))
