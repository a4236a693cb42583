"""The embedded AWS: a moto server on 127.0.0.1 holding the stack's resources, created from the synthesized
template by moto's own CloudFormation.

A server, not ``mock_aws``: other processes (the operator CLI) reach the same data through its URL, and it serves
one request at a time, so racing conditional writes do not both win as they can in in-process moto. Lambda
``Invoke`` is the exception: its handler runs in-process (:mod:`infra.local.moto_hooks`) and calls back into the
server, which would otherwise wait for itself.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from infra.local.template import BACKEND_TYPES, LAMBDA_FUNCTION, REGION, STATE_MACHINE, AppTemplate, TemplateError
from shared.aws import client

HOST = "127.0.0.1"
_LAMBDA_INVOKE_PATH = re.compile(r"^/[0-9-]+/functions/[^/]+/invocations/?$")
# The properties of buckets and queues that matter locally; the rest (tags, encryption, lifecycle) is deployment detail.
_NAMES_AND_TIMINGS = frozenset(
    {"BucketName", "QueueName", "VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "RedrivePolicy"}
)
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# Held while moto serves a request and by whatever reads its backends directly (module globals: one moto per process).
BACKEND_LOCK = threading.Lock()


def aws_environment(endpoint_url: str) -> dict[str, str]:
    """What a boto3 client (here, or the operator CLI's) needs to reach moto."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        # moto's Step Functions interpreter calls the task functions at http://localhost:$MOTO_PORT.
        "MOTO_PORT": endpoint_url.rsplit(":", 1)[-1],
    }


class _QuietMotoRequestHandler(MotoRequestHandler):
    """moto's handler without an access-log line per AWS call."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


class SerializedApp:
    """A WSGI app that handles one request at a time, except Lambda invocations."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST" and _LAMBDA_INVOKE_PATH.match(environ.get("PATH_INFO", "")):
            return list(self._app(environ, start_response))
        with BACKEND_LOCK:
            return self.serve(environ, start_response)

    def serve(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        return list(self._app(environ, start_response))  # the whole body, produced under the caller's lock


class MotoServer:
    """moto's server app, serialized, in a background thread."""

    def __init__(self, port: int = 0) -> None:
        app = SerializedApp(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(HOST, port, app, threaded=True, request_handler=_QuietMotoRequestHandler)
        self._server.daemon_threads = True  # type: ignore[attr-defined]  # ThreadingMixIn's switch
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_port}"

    def start(self) -> None:
        """Serve, from empty backends (a runtime before this one in the process left its data there)."""
        self._thread.start()
        moto_api(self.url, "reset")

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def moto_api(url: str, path: str, document: Any = None) -> None:
    """POST to moto's own API at ``url`` (``reset``, or ``config`` with a document)."""
    httpx.post(f"{url}/moto-api/{path}", json=document, timeout=10).raise_for_status()


@dataclass(frozen=True)
class LocalResources:
    """The stack's resources by logical id, and each function's environment as moto resolved it."""

    physical_ids: Mapping[str, str]  # what ``Ref`` gives: a name, a URL or an ARN
    table_name: str
    stream_arns: Mapping[str, str]  # table logical id -> latest stream ARN
    environments: Mapping[str, Mapping[str, str]]  # function logical id -> its resolved environment
    state_machine_arns: Mapping[str, str]
    queue_arns: Mapping[str, str]

    @property
    def function_names(self) -> dict[str, str]:
        return {logical_id: self.physical_ids[logical_id] for logical_id in self.environments}


def create_resources(template: AppTemplate) -> LocalResources:
    """Create the template's resources with moto's CloudFormation, which resolves the stack's intrinsics.

    Secrets (moto 5.2.5's CloudFormation has none) and event buses (its ``Ref`` of one is not the name) go around
    it, as stack parameters named by logical id. Functions get a stub package (their handlers run in-process).
    State machines are created again once executions are on: moto's executing Step Functions does not see them.
    """
    role = client("iam").create_role(RoleName="gensail-local-runtime", AssumeRolePolicyDocument=_TRUST)["Role"]["Arn"]
    parameters: dict[str, str] = {}
    for logical_id, props in template.of_type("AWS::SecretsManager::Secret"):
        name = props.get("Name") or f"{template.stack_name}-{logical_id}"
        value = props.get("SecretString") or secrets.token_urlsafe(48)  # GenerateSecretString: a fresh one
        parameters[logical_id] = client("secretsmanager").create_secret(Name=name, SecretString=value)["ARN"]
    for logical_id, props in template.of_type("AWS::Events::EventBus"):
        parameters[logical_id] = name = props.get("Name") or f"{template.stack_name}-{logical_id}"
        client("events").create_event_bus(Name=name)
    stack = {
        "Parameters": {logical_id: {"Type": "String"} for logical_id in parameters},
        "Resources": {
            logical_id: _for_moto(logical_id, kind, props, role)
            for kind in BACKEND_TYPES
            if kind not in ("AWS::SecretsManager::Secret", "AWS::Events::EventBus")
            for logical_id, props in template.of_type(kind)
        },
    }
    cloudformation = client("cloudformation")
    _execute_state_machines(False)  # moto keeps its config across resets: a runtime before this one switched it on
    cloudformation.create_stack(
        StackName=template.stack_name,
        TemplateBody=json.dumps(stack),
        Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
    )
    (created,) = cloudformation.describe_stacks(StackName=template.stack_name)["Stacks"]
    if (status := created["StackStatus"]) != "CREATE_COMPLETE":
        raise TemplateError(f"moto's CloudFormation left the stack {status}")
    paginator = cloudformation.get_paginator("list_stack_resources")
    physical_ids = {
        summary["LogicalResourceId"]: summary["PhysicalResourceId"]
        for page in paginator.paginate(StackName=template.stack_name)
        for summary in page["StackResourceSummaries"]
    } | parameters
    (table_id,) = (logical_id for logical_id, _ in template.of_type("AWS::DynamoDB::GlobalTable"))
    table = client("dynamodb").describe_table(TableName=physical_ids[table_id])["Table"]
    machines = {logical_id: physical_ids[logical_id] for logical_id, _ in template.of_type(STATE_MACHINE)}
    _run_state_machines(machines.values())
    return LocalResources(
        physical_ids=physical_ids,
        table_name=table["TableName"],
        stream_arns={table_id: table["LatestStreamArn"]},
        environments={
            logical_id: client("lambda")
            .get_function_configuration(FunctionName=physical_ids[logical_id])
            .get("Environment", {})
            .get("Variables", {})
            for logical_id in template.functions
        },
        state_machine_arns=machines,
        queue_arns={
            logical_id: client("sqs").get_queue_attributes(
                QueueUrl=physical_ids[logical_id], AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"]
            for logical_id, _ in template.of_type("AWS::SQS::Queue")
        },
    )


def _for_moto(logical_id: str, kind: str, props: Mapping[str, Any], role: str) -> dict[str, Any]:
    """A resource as moto's CloudFormation takes it, with only what the local runtime uses."""
    if kind == "AWS::DynamoDB::GlobalTable":  # one region locally: a table, on demand
        if "LocalSecondaryIndexes" in props:
            raise TemplateError(f"table {logical_id}: local secondary indexes are not served locally")
        indexes = [
            {key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
            for index in props.get("GlobalSecondaryIndexes", [])
        ]
        table = {
            key: props[key] for key in ("KeySchema", "AttributeDefinitions", "StreamSpecification") if key in props
        }
        return {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {**table, "GlobalSecondaryIndexes": indexes, "BillingMode": "PAY_PER_REQUEST"},
        }
    if kind == LAMBDA_FUNCTION:
        kept = {key: props[key] for key in ("Handler", "Timeout", "MemorySize", "Environment") if key in props}
        code = {"ZipFile": "# The local runtime runs this function's handler in-process."}
        return {"Type": kind, "Properties": {**kept, "Code": code, "Role": role, "Runtime": "python3.11"}}
    if kind == STATE_MACHINE:
        if "DefinitionSubstitutions" in props:
            raise TemplateError(f"state machine {logical_id}: DefinitionSubstitutions are not served locally")
        if props.get("StateMachineType", "STANDARD") != "STANDARD":
            raise TemplateError(f"state machine {logical_id}: only STANDARD state machines are served locally")
        kept = {key: props[key] for key in ("DefinitionString", "StateMachineName") if key in props}
        return {"Type": kind, "Properties": {**kept, "RoleArn": role}}
    if kind == "AWS::SQS::Queue" and props.get("FifoQueue"):
        raise TemplateError(f"queue {logical_id}: FIFO queues are not served locally")
    return {"Type": kind, "Properties": {key: value for key, value in props.items() if key in _NAMES_AND_TIMINGS}}


def _run_state_machines(arns: Iterable[str]) -> None:
    definitions = [client("stepfunctions").describe_state_machine(stateMachineArn=arn) for arn in arns]
    _execute_state_machines(True)
    for machine in definitions:
        client("stepfunctions").create_state_machine(
            name=machine["name"], definition=machine["definition"], roleArn=machine["roleArn"]
        )


def _execute_state_machines(execute: bool) -> None:
    moto_api(os.environ["AWS_ENDPOINT_URL"], "config", {"stepfunctions": {"execute_state_machine": execute}})


# The one role every local function and state machine "assumes" (moto's Lambda requires one).
_TRUST = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", '
    '"Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]}}]}'
)
