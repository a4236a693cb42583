"""Start and stop the whole local runtime: moto with the stack's resources, demo data, the API, the mapping
pollers, the schedules, a webhook receiver and a CallRail-compatible sample server (SAMPLE DATA)."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import secrets
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any
from unittest import mock

from werkzeug.serving import make_server

from infra.admin.demo import DemoData, configure, put_secret, seed_demo
from infra.admin.services import AdminTarget, Services
from infra.local.backend import HOST, MotoServer, aws_environment, create_resources
from infra.local.functions import FunctionHost
from infra.local.gateway import Gateway, enable_swagger
from infra.local.limits import ProblemRequestHandler
from infra.local.mappings import MappingPoller
from infra.local.moto_hooks import registered
from infra.local.routing import openapi_routes
from infra.local.schedules import Scheduler
from infra.local.synth import synthesize
from infra.local.template import REGION, AppTemplate
from infra.naming import DEFAULT_STAGE, stack_name
from infra.openapi import load_openapi
from infra.sample.accounts import SampleAccount, open_sample_account
from infra.sample.callrail import CallRailSampleServer
from infra.sample.webhooks import WebhookReceiver
from shared.aws import client, reset_clients
from shared.config.hierarchy import ConfigLevel
from shared.parameters import ParameterPaths

logger = logging.getLogger("infra.local")

DEFAULT_PORT = 8000
DEFAULT_DEMO_FILE = Path(".local/demo.json")
SCHEDULE_SCALE_VARIABLE = "LOCAL_SCHEDULE_SCALE"
# A new call per SAMPLE account every 20 s, at most 2,000 (1.5 h for 8 accounts): each poll finds new calls.
CALLRAIL_ARRIVAL_SECONDS = 20.0
CALLRAIL_MAX_ARRIVALS = 2000
_STOP_THREADS_SECONDS = 15
WEBHOOK_SECRET_NAME = "demo"  # noqa: S105 - a parameter name below the stage's webhook secrets, not a secret
DEMO_SEED = 7


class LocalRuntime:
    """A running local runtime; ``stop()`` undoes what ``start()`` did, in reverse, and waits for its threads."""

    def __init__(self, template: AppTemplate, demo_file: Path | None, baseline: set[threading.Thread]) -> None:
        self.template = template
        self.demo_file = demo_file
        self._baseline = baseline
        self._undo = contextlib.ExitStack()
        self.callrail: CallRailSampleServer | None = None
        self.function_names: dict[str, str] = {}
        self.state_machine_arns: dict[str, str] = {}
        self.demo = DemoData()
        self.callrail_accounts: list[SampleAccount] = []
        self.api_url = self.docs_url = self.aws_endpoint_url = self.table_name = self.config_prefix = ""
        self.webhooks: WebhookReceiver
        self.streams: MappingPoller
        self.queues: MappingPoller
        self.scheduler: Scheduler
        self._functions: FunctionHost

    def summary(self) -> dict[str, Any]:
        """The content of ``.local/demo.json``."""
        accounts = [asdict(account) for account in self.callrail_accounts]
        return {
            "api_url": self.api_url,
            "docs_url": self.docs_url,
            "aws_endpoint_url": self.aws_endpoint_url,
            "region": REGION,
            "table_name": self.table_name,
            "config_prefix": self.config_prefix,
            "webhook_url": self.webhooks.url,
            "state_machine_arns": sorted(self.state_machine_arns.values()),
            **({"callrail_api_url": self.callrail.url} if self.callrail else {}),
            **self.demo.as_json(),
            **({"callrail_sample_accounts": accounts} if accounts else {}),
        }

    def stop(self) -> None:
        self._undo.close()
        deadline = time.monotonic() + _STOP_THREADS_SECONDS
        # Enumerate again after each round: a request in flight may start a thread of its own.
        while (remaining := deadline - time.monotonic()) > 0 and (pending := self.leftover_threads()):
            for thread in pending:
                thread.join(min(0.5, remaining))

    def running_executions(self) -> list[str]:
        stepfunctions = client("stepfunctions")
        return [
            execution["executionArn"]
            for arn in self.state_machine_arns.values()
            for execution in stepfunctions.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
        ]

    def _abort_executions(self) -> None:
        try:
            for arn in self.running_executions():
                client("stepfunctions").stop_execution(executionArn=arn, cause="local runtime stopped")
        except Exception:  # stopping goes on regardless
            logger.exception("could not stop the running executions")

    def leftover_threads(self) -> list[threading.Thread]:
        """Threads started since this runtime started that are still alive (none after ``stop()``)."""
        started = set(threading.enumerate()) - self._baseline - {threading.current_thread()}
        return [thread for thread in started if thread.is_alive()]


def start(
    port: int = DEFAULT_PORT,
    *,
    template_path: Path | None = None,
    demo_file: Path | None = DEFAULT_DEMO_FILE,
    stage: str = DEFAULT_STAGE,
    schedule_scale: float | None = None,
    callrail_sample: bool = True,
    callrail_arrival_seconds: float | None = CALLRAIL_ARRIVAL_SECONDS,
) -> LocalRuntime:
    """Serve the stage's synthesized app on ``127.0.0.1:port`` (0: a free port) over fresh demo data.

    ``schedule_scale`` multiplies every schedule's period (default ``$LOCAL_SCHEDULE_SCALE`` or 1). With
    ``callrail_sample``, every demo workspace gets a SAMPLE account on a local CallRail sample server (a new call
    every ``callrail_arrival_seconds``; None: none), which the functions call instead of CallRail.
    """
    baseline = set(threading.enumerate())
    if template_path is None:
        with tempfile.TemporaryDirectory(prefix="gensail-synth-") as outdir:
            template = AppTemplate.load(synthesize(Path(outdir), stage), stack_name(stage))
    else:
        template = AppTemplate.load(template_path, stack_name(stage))
    runtime = LocalRuntime(template, demo_file, baseline)
    undo = runtime._undo  # each part registers how to undo it: runtime.stop() undoes them in reverse
    try:
        moto = MotoServer()
        moto.start()
        undo.callback(moto.stop)
        runtime.aws_endpoint_url = moto.url
        undo.callback(reset_clients)
        undo.enter_context(mock.patch.dict(os.environ, aws_environment(moto.url)))
        reset_clients()
        runtime.webhooks = webhooks = WebhookReceiver(secrets.token_urlsafe(32))
        webhooks.start()
        undo.callback(webhooks.stop)
        if callrail_sample:
            runtime.callrail = CallRailSampleServer(
                arrival_every_seconds=callrail_arrival_seconds, max_arrivals=CALLRAIL_MAX_ARRIVALS
            )
            undo.enter_context(runtime.callrail)
        resources = create_resources(template)
        runtime.table_name = resources.table_name
        runtime.function_names = resources.function_names
        runtime.state_machine_arns = dict(resources.state_machine_arns)
        replacements = {"CALLRAIL_API_URL": runtime.callrail.url} if runtime.callrail else None
        runtime._functions = functions = FunctionHost(template, resources.environments, replacements=replacements)
        undo.callback(functions.close)
        invokes = {name: functools.partial(functions.invoke, id_) for id_, name in runtime.function_names.items()}
        undo.enter_context(registered(invokes))
        # The poller's keep-alive connection to the sample server closes with its warm instance.
        undo.callback(functions.release, functions.replaced)
        runtime.config_prefix = ParameterPaths.for_stage(stage).config
        _seed(runtime, Services(AdminTarget(table_name=runtime.table_name, config_prefix=runtime.config_prefix)))
        _serve_api(runtime, functions, port)
        undo.callback(runtime._abort_executions)
        # The demo data is history: the stream workers start after it, at the end of the stream.
        runtime.streams = MappingPoller.for_template(
            template, resources, functions.invoke, queues=False, starting_position="LATEST"
        )
        runtime.queues = MappingPoller.for_template(template, resources, functions.invoke, queues=True)
        scale = float(os.environ.get(SCHEDULE_SCALE_VARIABLE) or 1) if schedule_scale is None else schedule_scale
        runtime.scheduler = Scheduler.for_template(template, resources, functions, scale=scale)
        for loop in (runtime.streams, runtime.queues, runtime.scheduler):
            loop.start()
            undo.callback(loop.stop)
    except BaseException:
        runtime.stop()
        raise
    if demo_file is not None:
        demo_file.parent.mkdir(parents=True, exist_ok=True)
        demo_file.write_text(json.dumps(runtime.summary(), indent=2) + "\n", encoding="utf-8")
    return runtime


def _seed(runtime: LocalRuntime, services: Services) -> None:
    """The admin command's demo data, webhooks to the receiver and a SAMPLE CallRail account per workspace."""
    runtime.demo = seed_demo(services, DEMO_SEED)
    parameter = f"{services.config.paths.webhook_secrets}/{WEBHOOK_SECRET_NAME}"
    put_secret(parameter, runtime.webhooks.secret)
    webhooks = {"urls": [runtime.webhooks.url], "secret_parameter": parameter}
    configure(services, ConfigLevel.PLATFORM, None, "processing.webhooks", webhooks)
    if (server := runtime.callrail) is None:
        return
    for tenant in (tenant for tenant in runtime.demo.tenants if tenant.kind == ConfigLevel.WORKSPACE):
        keys_folder = services.config.paths.callrail_keys
        account = open_sample_account(server, tenant.id, tenant.name, keys_folder, DEMO_SEED)
        put_secret(account.api_key_parameter, account.api_key)
        configure(services, ConfigLevel.WORKSPACE, tenant.id, "integrations.callrail", account.integration())
        runtime.callrail_accounts.append(account)


def _serve_api(runtime: LocalRuntime, functions: FunctionHost, port: int) -> None:
    """The API Gateway stand-in on ``port``, with Swagger UI beside the OpenAPI document."""
    routes = openapi_routes(load_openapi())
    docs_route = enable_swagger(routes, functions.module(runtime.template.api_function_id))
    gateway = Gateway(runtime.template, functions, [*routes, docs_route])
    api_server = make_server(HOST, port, gateway, threaded=True, request_handler=ProblemRequestHandler)
    api_thread = threading.Thread(target=api_server.serve_forever, name="local-api", daemon=True)
    api_thread.start()
    runtime._undo.callback(api_thread.join, 10)
    runtime._undo.callback(api_server.server_close)
    runtime._undo.callback(api_server.shutdown)
    runtime.api_url = f"http://{HOST}:{api_server.server_port}"
    runtime.docs_url = runtime.api_url + docs_route.path
