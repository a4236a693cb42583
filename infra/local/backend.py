"""The embedded AWS: a moto server on 127.0.0.1 holding the stack's table, secrets, parameters, buckets, buses,
queues, functions and state machines.

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

import boto3
from botocore.config import Config
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from infra.local.template import ACCOUNT_ID, PARTITION, REGION, AppTemplate, NamedResource, Resolver, TemplateError

HOST = "127.0.0.1"
LOCAL_ROLE_NAME = "gensail-local-runtime"  # the one role every local function and state machine "assumes"
_LAMBDA_INVOKE_PATH = re.compile(r"^/[0-9-]+/functions/[^/]+/invocations/?$")


# What every boto3 client in this process (and the operator CLI, given the same values) needs to reach moto.
def aws_environment(endpoint_url: str) -> dict[str, str]:
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
    """moto's handler without an access-log line per AWS call (the API server logs the requests that matter)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class SerializedApp:
    """A WSGI app that handles one request at a time, except Lambda invocations (see the module's docstring)."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST" and _LAMBDA_INVOKE_PATH.match(environ.get("PATH_INFO", "")):
            return list(self._app(environ, start_response))
        with self._lock:
            return list(self._app(environ, start_response))  # the whole body is produced under the lock


class MotoServer:
    """moto's server app in a background thread, one request at a time (but for Lambda invocations)."""

    def __init__(self, port: int = 0) -> None:
        app = SerializedApp(DomainDispatcherApplication(create_backend_app))
        self._server: BaseWSGIServer = make_server(
            HOST, port, app, threaded=True, request_handler=_QuietMotoRequestHandler
        )
        self._server.daemon_threads = True  # type: ignore[attr-defined]  # ThreadingMixIn's switch
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_port}"

    def start(self) -> None:
        """Serve, starting from empty backends.

        moto keeps its backends in module globals, so a second runtime in the same process (tests) would
        otherwise find the first one's data; a restart of ``python -m infra.local`` is fresh by construction.
        """
        self._thread.start()
        self._post("/moto-api/reset")
        # Step Functions executions really run (moto's interpreter, in background threads of this process).
        self._post("/moto-api/config", {"stepfunctions": {"execute_state_machine": True}})

    def _post(self, path: str, document: Mapping[str, Any] | None = None) -> None:
        data = json.dumps(document).encode() if document is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, method="POST")  # noqa: S310 - our server
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - http://127.0.0.1 only
            pass

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@dataclass(frozen=True)
class LocalResources:
    """What the stack's resources are called locally: ``Ref`` values and attributes by logical id, and the main
    names."""

    refs: Mapping[str, str]
    table_name: str
    attributes: Mapping[str, str] = field(default_factory=dict)  # "LogicalId.Attribute" -> value
    function_names: Mapping[str, str] = field(default_factory=dict)  # logical id -> Lambda function name
    state_machine_arns: Mapping[str, str] = field(default_factory=dict)  # logical id -> ARN
    queue_urls: Mapping[str, str] = field(default_factory=dict)  # logical id -> URL
    stream_arns: Mapping[str, str] = field(default_factory=dict)  # table logical id -> latest stream ARN

    def resolver(self) -> Resolver:
        return Resolver(self.refs, self.attributes)


def _client(service: str, endpoint_url: str) -> Any:
    """A client of the embedded server."""
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - moto accepts any credentials
        config=Config(retries={"mode": "standard", "max_attempts": 2}),
    )


def create_resources(template: AppTemplate, endpoint_url: str) -> LocalResources:
    """Create the template's resources in moto; returns their local names.

    The table, secrets and SSM parameters; buckets, event buses and queues; every function, registered in moto's
    Lambda (a stub package: :mod:`infra.local.moto_hooks` runs the real handler in-process); then the state
    machines from their definitions, resolved against those functions' ARNs.
    """
    refs: dict[str, str] = {}
    attributes: dict[str, str] = {}
    resolver = Resolver(refs, attributes)  # sees what is added below
    named = template.named

    def local_name(resource: NamedResource, name_property: str, limit: int) -> str:
        return resource.name(name_property) or f"{template.stack_name}-{resource.logical_id}"[:limit]

    table = template.table
    table_name = table.name(template.stack_name)
    dynamodb = _client("dynamodb", endpoint_url)
    created = dynamodb.create_table(**table.create_table_args(table_name))["TableDescription"]
    if table.ttl_attribute:
        dynamodb.update_time_to_live(
            TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute}
        )
    refs[table.logical_id] = table_name
    attributes[f"{table.logical_id}.Arn"] = created["TableArn"]
    attributes[f"{table.logical_id}.StreamArn"] = created["LatestStreamArn"]

    secretsmanager = _client("secretsmanager", endpoint_url)
    for secret in named["AWS::SecretsManager::Secret"]:
        value = secret.name("SecretString") or secrets.token_urlsafe(48)  # GenerateSecretString: a fresh one
        created_secret = secretsmanager.create_secret(Name=local_name(secret, "Name", 512), SecretString=value)
        refs[secret.logical_id] = str(created_secret["ARN"])

    ssm = _client("ssm", endpoint_url)
    for parameter in named["AWS::SSM::Parameter"]:
        props = parameter.properties
        name = str(resolver.resolve(props["Name"]))
        ssm.put_parameter(
            Name=name, Value=str(resolver.resolve(props["Value"])), Type=props.get("Type", "String"), Overwrite=True
        )
        refs[parameter.logical_id] = name

    for bucket in named["AWS::S3::Bucket"]:
        name = local_name(bucket, "BucketName", 63).lower()
        _client("s3", endpoint_url).create_bucket(Bucket=name)
        refs[bucket.logical_id] = name
        attributes[f"{bucket.logical_id}.Arn"] = f"arn:{PARTITION}:s3:::{name}"

    for bus in named["AWS::Events::EventBus"]:
        name = local_name(bus, "Name", 256)
        refs[bus.logical_id] = attributes[f"{bus.logical_id}.Name"] = name
        attributes[f"{bus.logical_id}.Arn"] = _client("events", endpoint_url).create_event_bus(Name=name)["EventBusArn"]

    sqs = _client("sqs", endpoint_url)
    queue_urls: dict[str, str] = {}
    for queue in named["AWS::SQS::Queue"]:
        if queue.properties.get("FifoQueue"):
            raise TemplateError(f"queue {queue.logical_id}: FIFO queues are not served locally")
        name = local_name(queue, "QueueName", 80)
        url = str(sqs.create_queue(QueueName=name)["QueueUrl"])
        refs[queue.logical_id] = queue_urls[queue.logical_id] = attributes[f"{queue.logical_id}.QueueUrl"] = url
        attributes[f"{queue.logical_id}.QueueName"] = name
        attributes[f"{queue.logical_id}.Arn"] = f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT_ID}:{name}"
    for queue in named["AWS::SQS::Queue"]:  # once every dead-letter queue it may name exists
        settings = sqs_queue_settings(queue.properties, resolver)
        if settings:
            sqs.set_queue_attributes(QueueUrl=queue_urls[queue.logical_id], Attributes=settings)

    function_names, machine_arns = _create_compute(template, endpoint_url, refs, attributes)
    return LocalResources(
        refs=refs,
        table_name=table_name,
        attributes=attributes,
        function_names=function_names,
        state_machine_arns=machine_arns,
        queue_urls=queue_urls,
        stream_arns={table.logical_id: created["LatestStreamArn"]},
    )


def _create_compute(
    template: AppTemplate, endpoint_url: str, refs: dict[str, str], attributes: dict[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """The functions and state machines; returns the functions' names and the machines' ARNs by logical id."""
    resolver = Resolver(refs, attributes)
    role_arn = _local_role(endpoint_url)
    awslambda = _client("lambda", endpoint_url)
    function_names: dict[str, str] = {}
    for logical_id, function in template.functions.items():
        name = f"{template.stack_name}-{logical_id}"[:64]
        created_function = awslambda.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=role_arn,
            Handler=function.handler,
            Code={"ZipFile": _stub_package()},
            Timeout=function.timeout_seconds,
            MemorySize=function.memory_mb,
        )
        refs[logical_id] = function_names[logical_id] = name
        attributes[f"{logical_id}.Arn"] = str(created_function["FunctionArn"])

    # A state machine's ARN is known before it exists, so functions that start it resolve in any order.
    machines = template.named["AWS::StepFunctions::StateMachine"]
    for machine in machines:
        name = machine.name("StateMachineName") or f"{template.stack_name}-{machine.logical_id}"[:80]
        refs[machine.logical_id] = attributes[f"{machine.logical_id}.Arn"] = (
            f"arn:{PARTITION}:states:{REGION}:{ACCOUNT_ID}:stateMachine:{name}"
        )
        attributes[f"{machine.logical_id}.Name"] = name
    stepfunctions = _client("stepfunctions", endpoint_url)
    for machine in machines:
        props = machine.properties
        definition = resolver.resolve(props["DefinitionString"])
        for key, value in (props.get("DefinitionSubstitutions") or {}).items():
            definition = definition.replace("${" + key + "}", str(resolver.resolve(value)))
        stepfunctions.create_state_machine(
            name=attributes[f"{machine.logical_id}.Name"],
            definition=definition,
            roleArn=role_arn,
            type=str(props.get("StateMachineType", "STANDARD")),
        )
    return function_names, {machine.logical_id: refs[machine.logical_id] for machine in machines}


_QUEUE_NUMBERS = ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "MaximumMessageSize")


def sqs_queue_settings(properties: Mapping[str, Any], resolver: Resolver) -> dict[str, str]:
    """``SetQueueAttributes`` values for what a template's ``AWS::SQS::Queue`` sets: its timings and its
    redrive policy (moto moves a message to the dead-letter queue once it was received ``maxReceiveCount`` times)."""
    settings = {name: str(int(properties[name])) for name in _QUEUE_NUMBERS if name in properties}
    redrive = properties.get("RedrivePolicy")
    if isinstance(redrive, Mapping):
        resolved = resolver.resolve(dict(redrive))
        settings["RedrivePolicy"] = json.dumps(
            {
                "deadLetterTargetArn": resolved["deadLetterTargetArn"],
                "maxReceiveCount": int(resolved["maxReceiveCount"]),
            }
        )
    return settings


def _local_role(endpoint_url: str) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    created = _client("iam", endpoint_url).create_role(
        RoleName=LOCAL_ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust)
    )
    return str(created["Role"]["Arn"])


def _stub_package() -> bytes:
    """What moto stores as each function's code: never run (the handler runs in-process), only required."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "The local runtime runs this function's handler in-process.\n")
    return buffer.getvalue()


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
