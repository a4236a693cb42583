"""The pipeline's intake: the worker on the table stream and the reconciler on a schedule both start executions."""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.data import GET_ITEM, QUERY, UPDATE_ITEM
from infra.functions import PythonFunctions
from infra.parameters import config_prefix, grant_config_read
from infra.worker import ReconcileSchedule, StreamWorker, reconcile_interval, stuck_after
from shared.settings import ReconcilerSettings, WorkerSettings


@dataclass(frozen=True)
class Intake:
    worker: lambda_.Function
    reconciler: lambda_.Function
    stream_worker: StreamWorker
    reconcile_schedule: ReconcileSchedule


def add_intake(scope: Construct, functions: PythonFunctions, *, state_machine: sfn.StateMachine) -> Intake:
    """The worker (queued jobs from the stream) and the reconciler (jobs stuck in queued), allowed alike."""
    values = {"config_prefix": config_prefix(scope), "state_machine_arn": state_machine.state_machine_arn}
    worker = functions.add(
        "Worker",
        handler="functions.worker.handler.lambda_handler",
        description="Checks queued jobs against their filters and starts the pipeline",
        settings=WorkerSettings,
        values=values,
        service="worker",
        item_actions=[GET_ITEM, UPDATE_ITEM],
        timeout=cdk.Duration.seconds(60),
    )
    reconciler = functions.add(
        "Reconciler",
        handler="functions.reconciler.handler.lambda_handler",
        description="Hands jobs stuck in queued to the worker's intake",
        settings=ReconcilerSettings,
        values={**values, "stuck_after_seconds": int(stuck_after(scope).to_seconds())},
        service="reconciler",
        item_actions=[GET_ITEM, UPDATE_ITEM],
        index_actions=[QUERY],
        timeout=cdk.Duration.seconds(120),
    )
    for function in (worker, reconciler):
        grant_config_read(function, scope)
        functions.data.grant_config_documents(function, write=False)  # heads, for requeued jobs
        state_machine.grant_start_execution(function)
    return Intake(
        worker=worker,
        reconciler=reconciler,
        stream_worker=StreamWorker(scope, "StreamWorker", worker=worker, table=functions.data.table),
        reconcile_schedule=ReconcileSchedule(
            scope, "ReconcileSchedule", reconciler=reconciler, every=reconcile_interval(scope)
        ),
    )
