"""The embedded AWS: a single-threaded moto server on 127.0.0.1 holding the stack's table, secrets and parameters.

It is a server, not ``mock_aws``, for two reasons: other processes (the operator CLI) reach the same data
through its URL, and a single-threaded server serializes requests the way DynamoDB applies conditional
writes, where in-process moto lets racing conditional updates both win.
"""

from __future__ import annotations

import os
import secrets
import threading
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from local.template import REGION, AppTemplate, Resolver

HOST = "127.0.0.1"


# What every boto3 client in this process (and the operator CLI, given the same values) needs to reach moto.
def aws_environment(endpoint_url: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    }


class _QuietMotoRequestHandler(MotoRequestHandler):
    """moto's handler without an access-log line per AWS call (the API server logs the requests that matter)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


class MotoServer:
    """moto's server app in a background thread, one request at a time."""

    def __init__(self, port: int = 0) -> None:
        app = DomainDispatcherApplication(create_backend_app)
        self._server: BaseWSGIServer = make_server(
            HOST, port, app, threaded=False, request_handler=_QuietMotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_port}"

    def start(self) -> None:
        """Serve, starting from empty backends.

        moto keeps its backends in module globals, so a second runtime in the same process (tests) would
        otherwise find the first one's data; a restart of ``python -m local`` is fresh by construction.
        """
        self._thread.start()
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310 - our own server
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - http://127.0.0.1 only
            pass

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@dataclass(frozen=True)
class LocalResources:
    """What the stack's resources are called locally: ``Ref`` values by logical id, and the main names."""

    refs: Mapping[str, str]
    table_name: str


def _client(service: str, endpoint_url: str) -> Any:
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - moto accepts any credentials
        config=Config(retries={"mode": "standard", "max_attempts": 2}),
    )


def create_resources(template: AppTemplate, endpoint_url: str) -> LocalResources:
    """Create the template's table, secrets and SSM parameters in moto; returns their local names."""
    refs: dict[str, str] = {}
    table = template.table
    table_name = table.name(template.stack_name)
    dynamodb = _client("dynamodb", endpoint_url)
    dynamodb.create_table(**table.create_table_args(table_name))
    if table.ttl_attribute:
        dynamodb.update_time_to_live(
            TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute}
        )
    refs[table.logical_id] = table_name

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
    return LocalResources(refs=refs, table_name=table_name)


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
