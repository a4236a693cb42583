"""The embedded AWS: a moto server on 127.0.0.1 holding the stack's table, secrets, parameters, buckets, buses,
queues, functions and state machines.

It is a server, not ``mock_aws``, for two reasons: other processes (the operator CLI) reach the same data
through its URL, and the server serializes requests (one AWS request at a time) the way DynamoDB applies
conditional writes, where in-process moto lets racing conditional updates both win.

One kind of request is not serialized: a Lambda ``Invoke`` (Step Functions calls its tasks' functions through the
server). Its handler runs in-process (:mod:`infra.local.lambda_hook`) and calls back into the server for the table,
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

from infra.local.template import ACCOUNT_ID, PARTITION, REGION, AppTemplate, Resolver

HOST = "127.0.0.1"
LOCAL_ROLE_NAME = "gensail-local-runtime"  # the one role every local function and state machine "assumes"
_LAMBDA_INVOKE_PATH = re.compile(r"^/[0-9-]+/functions/[^/]+/invocations/?$")
_NAME_LIMITS = {"lambda": 64, "bucket": 63, "queue": 80, "state_machine": 80}


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

    def resolver(self, template: AppTemplate) -> Resolver:
        return Resolver(template, self.refs, self.attributes)


def _client(service: str, endpoint_url: str | None) -> Any:
    """A client of the embedded server; ``endpoint_url=None`` for in-process moto (``mock_aws``)."""
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - moto accepts any credentials
        config=Config(retries={"mode": "standard", "max_attempts": 2}),
    )


def _local_name(template: AppTemplate, logical_id: str, kind: str) -> str:
    name = f"{template.stack_name}-{logical_id}"
    if kind == "bucket":
        name = name.lower()
    return name[: _NAME_LIMITS[kind]]


def create_resources(template: AppTemplate, endpoint_url: str | None) -> LocalResources:
    """Create the template's resources in moto; returns their local names.

    The table, secrets and SSM parameters; buckets, event buses and queues; every function, registered in moto's
    Lambda (a stub package: :mod:`infra.local.lambda_hook` runs the real handler in-process); then the state machines
    from their definitions, resolved against those functions' ARNs. ``endpoint_url=None`` creates them in
    in-process moto (under ``mock_aws``).
    """
    refs: dict[str, str] = {}
    attributes: dict[str, str] = {}
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
    stream_arns: dict[str, str] = {}
    if created.get("LatestStreamArn"):
        stream_arns[table.logical_id] = attributes[f"{table.logical_id}.StreamArn"] = created["LatestStreamArn"]

    secretsmanager = _client("secretsmanager", endpoint_url)
    for secret in template.secrets:
        name = secret.name or f"{template.stack_name}-{secret.logical_id}"
        value = secret.secret_string if secret.secret_string is not None else secrets.token_urlsafe(48)
        refs[secret.logical_id] = str(secretsmanager.create_secret(Name=name, SecretString=value)["ARN"])

    ssm = _client("ssm", endpoint_url)
    resolver = Resolver(template, refs)
    for parameter in template.parameters:
        name = str(resolver.resolve(parameter.name) or f"/{template.stack_name}/{parameter.logical_id}")
        ssm.put_parameter(Name=name, Value=str(resolver.resolve(parameter.value)), Type=parameter.type, Overwrite=True)
        refs[parameter.logical_id] = name

    queue_urls = _create_messaging(template, endpoint_url, refs, attributes)

    role_arn = _local_role(endpoint_url)
    function_names = _register_functions(template, endpoint_url, role_arn, refs, attributes)

    state_machine_arns = _create_state_machines(template, endpoint_url, role_arn, refs, attributes)
    return LocalResources(
        refs=refs,
        table_name=table_name,
        attributes=attributes,
        function_names=function_names,
        state_machine_arns=state_machine_arns,
        queue_urls=queue_urls,
        stream_arns=stream_arns,
    )


def _create_messaging(
    template: AppTemplate, endpoint_url: str | None, refs: dict[str, str], attributes: dict[str, str]
) -> dict[str, str]:
    """Buckets, event buses and queues; returns the queues' URLs by logical id."""
    s3 = _client("s3", endpoint_url)
    for bucket in template.buckets:
        name = bucket.name or _local_name(template, bucket.logical_id, "bucket")
        s3.create_bucket(Bucket=name)
        refs[bucket.logical_id] = name
        attributes[f"{bucket.logical_id}.Arn"] = f"arn:{PARTITION}:s3:::{name}"
        attributes[f"{bucket.logical_id}.DomainName"] = f"{name}.s3.amazonaws.com"
        attributes[f"{bucket.logical_id}.RegionalDomainName"] = f"{name}.s3.{REGION}.amazonaws.com"

    events = _client("events", endpoint_url)
    for bus in template.event_buses:
        name = bus.name or _local_name(template, bus.logical_id, "queue")
        arn = str(events.create_event_bus(Name=name)["EventBusArn"])
        refs[bus.logical_id] = attributes[f"{bus.logical_id}.Name"] = name
        attributes[f"{bus.logical_id}.Arn"] = arn

    sqs = _client("sqs", endpoint_url)
    queue_urls: dict[str, str] = {}
    for queue in template.queues:
        name = queue.name or _local_name(template, queue.logical_id, "queue")
        if queue.properties.get("FifoQueue") and not name.endswith(".fifo"):
            name = name[: _NAME_LIMITS["queue"] - 5] + ".fifo"
        queue_attributes = {"FifoQueue": "true"} if queue.properties.get("FifoQueue") else {}
        url = str(sqs.create_queue(QueueName=name, Attributes=queue_attributes)["QueueUrl"])
        refs[queue.logical_id] = queue_urls[queue.logical_id] = attributes[f"{queue.logical_id}.QueueUrl"] = url
        attributes[f"{queue.logical_id}.QueueName"] = name
        attributes[f"{queue.logical_id}.Arn"] = f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT_ID}:{name}"
    # Then what the template sets on each queue, once every dead-letter queue it may name exists.
    resolver = Resolver(template, refs, attributes)
    for queue in template.queues:
        settings = sqs_queue_settings(queue.properties, resolver)
        if settings:
            sqs.set_queue_attributes(QueueUrl=queue_urls[queue.logical_id], Attributes=settings)
    return queue_urls


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


def _create_state_machines(
    template: AppTemplate, endpoint_url: str | None, role_arn: str, refs: dict[str, str], attributes: dict[str, str]
) -> dict[str, str]:
    # A state machine's ARN is known before it exists, so functions that start it (and definitions that name
    # each other) resolve in any order.
    state_machine_arns: dict[str, str] = {}
    for machine in template.state_machines:
        name = machine.name or _local_name(template, machine.logical_id, "state_machine")
        arn = f"arn:{PARTITION}:states:{REGION}:{ACCOUNT_ID}:stateMachine:{name}"
        refs[machine.logical_id] = state_machine_arns[machine.logical_id] = arn
        attributes[f"{machine.logical_id}.Name"] = name
        attributes[f"{machine.logical_id}.Arn"] = arn
    stepfunctions = _client("stepfunctions", endpoint_url)
    resolver = Resolver(template, refs, attributes)
    for machine in template.state_machines:
        stepfunctions.create_state_machine(
            name=attributes[f"{machine.logical_id}.Name"],
            definition=machine.resolve(resolver),
            roleArn=role_arn,
            type=machine.type,
        )
    return state_machine_arns


def _local_role(endpoint_url: str | None) -> str:
    iam = _client("iam", endpoint_url)
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
    return str(iam.create_role(RoleName=LOCAL_ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])


def _stub_package() -> bytes:
    """What moto stores as each function's code: never run (the handler runs in-process), only required."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "The local runtime runs this function's handler in-process.\n")
    return buffer.getvalue()


def _register_functions(
    template: AppTemplate,
    endpoint_url: str | None,
    role_arn: str,
    refs: dict[str, str],
    attributes: dict[str, str],
) -> dict[str, str]:
    """Every function of the template in moto's Lambda, so Step Functions can invoke it by name or ARN."""
    awslambda = _client("lambda", endpoint_url)
    package = _stub_package()
    names: dict[str, str] = {}
    for logical_id, function in template.functions.items():
        name = _local_name(template, logical_id, "lambda")
        created = awslambda.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=role_arn,
            Handler=function.handler,
            Code={"ZipFile": package},
            Timeout=function.timeout_seconds,
            MemorySize=function.memory_mb,
        )
        refs[logical_id] = names[logical_id] = name
        attributes[f"{logical_id}.Arn"] = str(created["FunctionArn"])
    return names


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
