"""The embedded AWS: a moto server on 127.0.0.1 holding the stack's table, secrets, parameters, buckets, buses,
queues, functions and state machines, created from the synthesized template.

It is a server, not ``mock_aws``, for two reasons: other processes (the operator CLI) reach the same data
through its URL, and the server serializes requests (one AWS request at a time) the way DynamoDB applies
conditional writes, where in-process moto lets racing conditional updates both win.

One kind of request is not serialized: a Lambda ``Invoke`` (Step Functions calls its tasks' functions through the
server). Its handler runs in-process (:mod:`infra.local.moto_hooks`) and calls back into the server for the table,
the bucket and so on; serializing it with those calls would deadlock the server on itself.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import threading
import urllib.request
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from infra.local.template import ACCOUNT_ID, PARTITION, REGION, AppTemplate, Resolver, TemplateError
from shared.aws import client

HOST = "127.0.0.1"
_LAMBDA_INVOKE_PATH = re.compile(r"^/[0-9-]+/functions/[^/]+/invocations/?$")
_QUEUE_NUMBERS = ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "MaximumMessageSize")
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# Held while moto serves a request, and by whatever reads moto's backends directly (they are module globals: one
# moto per process).
BACKEND_LOCK = threading.Lock()


def aws_environment(endpoint_url: str) -> dict[str, str]:
    """What every boto3 client in this process (and the operator CLI, given the same values) needs to reach moto."""
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


def apply_environment(values: Mapping[str, str]) -> dict[str, str | None]:
    """Set environment variables; returns the previous values so :func:`restore_environment` can undo it."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    return previous


def restore_environment(previous: Mapping[str, str | None]) -> None:
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


class _QuietMotoRequestHandler(MotoRequestHandler):
    """moto's handler without an access-log line per AWS call (the API server logs the requests that matter)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


class SerializedApp:
    """A WSGI app that handles one request at a time, except Lambda invocations (see the module's docstring)."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._lock = BACKEND_LOCK

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST" and _LAMBDA_INVOKE_PATH.match(environ.get("PATH_INFO", "")):
            return list(self._app(environ, start_response))
        with self._lock:
            return list(self._app(environ, start_response))  # the whole body is produced under the lock


class MotoServer:
    """moto's server app in a background thread, one request at a time (but for Lambda invocations)."""

    def __init__(self, port: int = 0) -> None:
        app = SerializedApp(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(HOST, port, app, threaded=True, request_handler=_QuietMotoRequestHandler)
        self._server.daemon_threads = True  # type: ignore[attr-defined]  # ThreadingMixIn's switch
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_port}"

    def start(self) -> None:
        """Serve, from empty backends (moto keeps them in module globals: a second runtime in one process would
        find the first one's data), with Step Functions executions really run by moto's interpreter."""
        self._thread.start()
        for path, document in (("reset", None), ("config", {"stepfunctions": {"execute_state_machine": True}})):
            data = json.dumps(document).encode() if document is not None else None
            request = urllib.request.Request(f"{self.url}/moto-api/{path}", data=data, method="POST")  # noqa: S310
            with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - http://127.0.0.1 only
                pass

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@dataclass(frozen=True)
class LocalResources:
    """The local names of the stack's resources: ``Ref`` values and ``"LogicalId.Attribute"`` values."""

    refs: Mapping[str, str]
    table_name: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    function_names: Mapping[str, str] = field(default_factory=dict)  # logical id -> Lambda function name
    state_machine_arns: Mapping[str, str] = field(default_factory=dict)  # logical id -> ARN
    queue_urls: Mapping[str, str] = field(default_factory=dict)  # logical id -> URL
    stream_arns: Mapping[str, str] = field(default_factory=dict)  # table logical id -> latest stream ARN

    def resolver(self) -> Resolver:
        return Resolver(self.refs, self.attributes)


def create_resources(template: AppTemplate) -> LocalResources:
    """Create the template's resources in moto (its endpoint in the environment); returns their local names.

    The table, secrets and SSM parameters; buckets, event buses and queues; every function, registered in moto's
    Lambda (a stub package: :mod:`infra.local.moto_hooks` runs the real handler in-process); then the state
    machines from their definitions, resolved against those functions' ARNs.
    """
    refs: dict[str, str] = {}
    attributes: dict[str, str] = {}
    resolver = Resolver(refs, attributes)  # sees what is added below
    named = template.named

    def add(logical_id: str, ref: str, **values: str) -> str:
        refs[logical_id] = ref
        attributes.update({f"{logical_id}.{name}": value for name, value in values.items()})
        return ref

    def local_name(logical_id: str, given: str | None, limit: int) -> str:
        return given or f"{template.stack_name}-{logical_id}"[:limit]

    table = template.table
    created = client("dynamodb").create_table(**table.create_table_args(table.table_name(template.stack_name)))
    description = created["TableDescription"]
    if table.ttl_attribute:
        client("dynamodb").update_time_to_live(
            TableName=description["TableName"],
            TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
        )
    add(
        table.logical_id,
        description["TableName"],
        Arn=description["TableArn"],
        StreamArn=description["LatestStreamArn"],
    )
    for secret in named["AWS::SecretsManager::Secret"]:
        value = secret.name("SecretString") or secrets.token_urlsafe(48)  # GenerateSecretString: a fresh one
        name = local_name(secret.logical_id, secret.name("Name"), 512)
        add(secret.logical_id, str(client("secretsmanager").create_secret(Name=name, SecretString=value)["ARN"]))
    for parameter in named["AWS::SSM::Parameter"]:
        props = parameter.properties
        name = str(resolver.resolve(props["Name"]))
        value = str(resolver.resolve(props["Value"]))
        client("ssm").put_parameter(Name=name, Value=value, Type=props.get("Type", "String"), Overwrite=True)
        add(parameter.logical_id, name)
    for bucket in named["AWS::S3::Bucket"]:
        name = local_name(bucket.logical_id, bucket.name("BucketName"), 63).lower()
        client("s3").create_bucket(Bucket=name)
        add(bucket.logical_id, name, Arn=f"arn:{PARTITION}:s3:::{name}")
    for bus in named["AWS::Events::EventBus"]:
        name = local_name(bus.logical_id, bus.name("Name"), 256)
        add(bus.logical_id, name, Name=name, Arn=client("events").create_event_bus(Name=name)["EventBusArn"])
    queue_urls: dict[str, str] = {}
    for queue in named["AWS::SQS::Queue"]:
        if queue.properties.get("FifoQueue"):
            raise TemplateError(f"queue {queue.logical_id}: FIFO queues are not served locally")
        name = local_name(queue.logical_id, queue.name("QueueName"), 80)
        url = queue_urls[queue.logical_id] = str(client("sqs").create_queue(QueueName=name)["QueueUrl"])
        add(
            queue.logical_id, url, QueueUrl=url, QueueName=name, Arn=f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT_ID}:{name}"
        )
    for queue in named["AWS::SQS::Queue"]:  # once every dead-letter queue it may name exists
        if settings := sqs_queue_settings(queue.properties, resolver):
            client("sqs").set_queue_attributes(QueueUrl=queue_urls[queue.logical_id], Attributes=settings)

    function_names, machine_arns = _create_compute(template, add, resolver, attributes)
    return LocalResources(
        refs=refs,
        table_name=refs[table.logical_id],
        attributes=attributes,
        function_names=function_names,
        state_machine_arns=machine_arns,
        queue_urls=queue_urls,
        stream_arns={table.logical_id: description["LatestStreamArn"]},
    )


def _create_compute(
    template: AppTemplate, add: Callable[..., str], resolver: Resolver, attributes: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """The functions, then the state machines; their names and ARNs by logical id."""
    role_arn = str(
        client("iam").create_role(RoleName="gensail-local-runtime", AssumeRolePolicyDocument=_TRUST)["Role"]["Arn"]
    )
    function_names: dict[str, str] = {}
    for logical_id, function in template.functions.items():
        name = f"{template.stack_name}-{logical_id}"[:64]
        arn = client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=role_arn,
            Handler=function.handler,
            Code={"ZipFile": _STUB_PACKAGE},
            Timeout=function.timeout_seconds,
            MemorySize=function.memory_mb,
        )["FunctionArn"]
        function_names[logical_id] = add(logical_id, name, Arn=str(arn))
    # A state machine's ARN is known before it exists, so functions that start it resolve in any order.
    machines = template.named["AWS::StepFunctions::StateMachine"]
    machine_arns: dict[str, str] = {}
    for machine in machines:
        name = machine.name("StateMachineName") or f"{template.stack_name}-{machine.logical_id}"[:80]
        arn = f"arn:{PARTITION}:states:{REGION}:{ACCOUNT_ID}:stateMachine:{name}"
        machine_arns[machine.logical_id] = add(machine.logical_id, arn, Arn=arn, Name=name)
    for machine in machines:
        definition = resolver.resolve(machine.properties["DefinitionString"])
        for key, value in (machine.properties.get("DefinitionSubstitutions") or {}).items():
            definition = definition.replace("${" + key + "}", str(resolver.resolve(value)))
        client("stepfunctions").create_state_machine(
            name=attributes[f"{machine.logical_id}.Name"],
            definition=definition,
            roleArn=role_arn,
            type=str(machine.properties.get("StateMachineType", "STANDARD")),
        )
    return function_names, machine_arns


def sqs_queue_settings(properties: Mapping[str, Any], resolver: Resolver) -> dict[str, str]:
    """``SetQueueAttributes`` values for what a template's ``AWS::SQS::Queue`` sets: its timings and its
    redrive policy (moto moves a message to the dead-letter queue once it was received ``maxReceiveCount`` times)."""
    settings = {name: str(int(properties[name])) for name in _QUEUE_NUMBERS if name in properties}
    if isinstance(redrive := properties.get("RedrivePolicy"), Mapping):
        resolved = resolver.resolve(dict(redrive))
        target, count = resolved["deadLetterTargetArn"], int(resolved["maxReceiveCount"])
        settings["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": target, "maxReceiveCount": count})
    return settings


# The one role every local function and state machine "assumes", and what moto stores as each function's code:
# never run (the handler runs in-process), only required.
_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)
_buffer = io.BytesIO()
with zipfile.ZipFile(_buffer, "w") as _archive:
    _archive.writestr("README.txt", "The local runtime runs this function's handler in-process.\n")
_STUB_PACKAGE = _buffer.getvalue()
