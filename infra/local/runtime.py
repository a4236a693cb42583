"""Start and stop the whole local runtime: moto, the stack's resources, demo data, the API server, the stream
workers, the queue consumers, the schedules, the pipeline (moto's Step Functions over in-process handlers), a
webhook receiver and a CallRail-compatible sample server (SAMPLE DATA) that the poller ingests from."""

from __future__ import annotations

import json
import logging
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from infra.local.backend import (
    HOST,
    LocalResources,
    MotoServer,
    apply_environment,
    aws_environment,
    create_resources,
    restore_environment,
)
from infra.local.callrail_sample import CallRailSampleServer
from infra.local.functions import FunctionHost
from infra.local.gateway import Gateway, enable_swagger
from infra.local.limits import ProblemRequestHandler
from infra.local.moto_hooks import install as install_moto_hooks
from infra.local.moto_hooks import register as register_lambda
from infra.local.moto_hooks import unregister as unregister_lambda
from infra.local.queues import QueueMappingState, QueuePoller
from infra.local.routing import openapi_routes
from infra.local.schedules import Scheduler
from infra.local.seed import DemoData, seed_demo
from infra.local.streams import MappingState, StreamPoller, compile_patterns
from infra.local.synth import synthesize
from infra.local.template import AppTemplate
from infra.local.webhooks import WebhookReceiver
from infra.naming import DEFAULT_STAGE, stack_name
from infra.openapi import load_openapi
from shared.aws import client, reset_clients
from shared.parameters import ParameterPaths

logger = logging.getLogger("infra.local")

DEFAULT_PORT = 8000
DEFAULT_DEMO_FILE = Path(".local/demo.json")
SCHEDULE_SCALE_VARIABLE = "LOCAL_SCHEDULE_SCALE"
_STOP_THREADS_SECONDS = 15
# The CallRail sample server: one new call per SAMPLE account every 20 s, at most 2,000 in all (about an hour
# and a half with the eight demo accounts), so the poller finds new calls on every schedule.
CALLRAIL_ARRIVAL_SECONDS = 20.0
CALLRAIL_MAX_ARRIVALS = 2000


@dataclass
class LocalRuntime:
    """A running local runtime. ``stop()`` shuts both servers down and restores the process environment."""

    api_url: str
    aws_endpoint_url: str
    docs_url: str
    table_name: str
    config_prefix: str
    template: AppTemplate
    demo: DemoData
    demo_file: Path | None
    _api_server: BaseWSGIServer
    _api_thread: threading.Thread
    _moto: MotoServer
    _functions: FunctionHost
    _previous_environment: dict[str, str | None]
    webhooks: WebhookReceiver
    streams: StreamPoller
    queues: QueuePoller
    scheduler: Scheduler
    callrail: CallRailSampleServer | None
    function_names: dict[str, str]  # logical id -> local Lambda function name
    state_machine_arns: dict[str, str]
    _baseline_threads: set[threading.Thread]
    _stopped: bool = field(default=False)

    def summary(self) -> dict[str, Any]:
        """The content of ``.local/demo.json``: where everything is and the keys to call it with."""
        return {
            "api_url": self.api_url,
            "docs_url": self.docs_url,
            "aws_endpoint_url": self.aws_endpoint_url,
            "region": "us-east-1",
            "table_name": self.table_name,
            "config_prefix": self.config_prefix,
            "webhook_url": self.webhooks.url,
            "state_machine_arns": sorted(self.state_machine_arns.values()),
            **({"callrail_api_url": self.callrail.url} if self.callrail else {}),
            **self.demo.as_json(),
        }

    def stop(self) -> None:
        """Stop the workers, abort running executions, shut the servers down and wait for every thread."""
        if self._stopped:
            return
        self._stopped = True
        self.scheduler.stop()
        self.queues.stop()
        self.streams.stop()
        self._abort_executions()
        self._api_server.shutdown()
        self._api_server.server_close()
        self._api_thread.join(timeout=10)
        self.webhooks.stop()
        # The poller's keep-alive connection to the sample server closes with its warm instance.
        self._functions.release(self._functions.replaced)
        if self.callrail is not None:
            self.callrail.stop()
        self._moto.stop()
        for name in self.function_names.values():
            unregister_lambda(name)
        self._functions.close()
        restore_environment(self._previous_environment)
        reset_clients()
        self._join_threads()

    def running_executions(self) -> list[str]:
        stepfunctions = client("stepfunctions")
        return [
            execution["executionArn"]
            for arn in self.state_machine_arns.values()
            for execution in stepfunctions.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
        ]

    def _abort_executions(self) -> None:
        try:
            running = self.running_executions()
            for arn in running:
                client("stepfunctions").stop_execution(executionArn=arn, cause="local runtime stopped")
        except Exception:  # stopping goes on regardless
            logger.exception("could not stop the running executions")

    def _join_threads(self) -> None:
        """Wait (bounded) for the threads this runtime started, moto's execution threads included."""
        deadline = time.monotonic() + _STOP_THREADS_SECONDS
        # Enumerate again after each round: a request already in flight may start a thread of its own.
        while (remaining := deadline - time.monotonic()) > 0:
            pending = [thread for thread in self.leftover_threads() if thread is not threading.current_thread()]
            if not pending:
                return
            for thread in pending:
                thread.join(min(0.5, max(0.0, remaining)))

    def leftover_threads(self) -> list[threading.Thread]:
        """Threads started since this runtime started that are still alive (none after ``stop()``)."""
        return [thread for thread in set(threading.enumerate()) - self._baseline_threads if thread.is_alive()]


def start(
    port: int = DEFAULT_PORT,
    *,
    template_path: Path | None = None,
    demo_file: Path | None = DEFAULT_DEMO_FILE,
    seed: int = 7,
    aws_port: int = 0,
    stage: str = DEFAULT_STAGE,
    schedule_scale: float | None = None,
    webhook_port: int = 0,
    callrail_sample: bool = True,
    callrail_port: int = 0,
    callrail_arrival_seconds: float | None = CALLRAIL_ARRIVAL_SECONDS,
    queue_retry_seconds: int = 2,
) -> LocalRuntime:
    """Serve the synthesized app on ``127.0.0.1:port`` (0 picks a free port) over fresh demo data.

    ``stage`` is the deployment stage whose stack is synthesized and served (its names and SSM paths).
    ``schedule_scale`` multiplies every schedule's period (default ``$LOCAL_SCHEDULE_SCALE`` or 1). With
    ``callrail_sample`` a CallRail-compatible sample server on loopback serves every demo workspace a SAMPLE
    account (new calls every ``callrail_arrival_seconds``; None: none), the functions that call CallRail call it
    instead, and the poll dispatcher runs at once, then on its schedule. ``queue_retry_seconds``: how soon a
    message a queue consumer failed is received again (see :mod:`infra.local.queues`).
    """
    baseline = set(threading.enumerate())
    if schedule_scale is None:
        schedule_scale = float(os.environ.get(SCHEDULE_SCALE_VARIABLE) or 1)
    if template_path is None:
        with tempfile.TemporaryDirectory(prefix="gensail-synth-") as outdir:
            template = AppTemplate.load(synthesize(Path(outdir), stage), stack_name(stage))
    else:
        template = AppTemplate.load(template_path, stack_name(stage))

    install_moto_hooks()
    moto = MotoServer(aws_port)
    moto.start()
    previous = apply_environment(aws_environment(moto.url))
    reset_clients()
    functions: FunctionHost | None = None
    webhooks = WebhookReceiver(secrets.token_urlsafe(32), webhook_port)
    webhooks.start()
    callrail = _start_callrail(callrail_port, callrail_arrival_seconds) if callrail_sample else None
    function_names: dict[str, str] = {}
    try:
        resources = create_resources(template, moto.url)
        functions = FunctionHost(
            template,
            resources.resolver(),
            replacements={"CALLRAIL_API_URL": callrail.url} if callrail is not None else None,
        )
        function_names = dict(resources.function_names)
        _serve_functions(functions, function_names)
        config_prefix = ParameterPaths.for_stage(stage).config
        demo = seed_demo(
            resources.table_name,
            config_prefix,
            seed=seed,
            webhook_url=webhooks.url,
            webhook_secret=webhooks.secret,
            callrail=callrail,
        )
        routes = openapi_routes(load_openapi())
        docs_route = enable_swagger(routes, functions.module(template.api_function_id))
        gateway = Gateway(template, functions, [*routes, docs_route])
        api_server = make_server(HOST, port, gateway, threaded=True, request_handler=ProblemRequestHandler)
        # The demo data is history: the stream workers start after it, at the end of the stream.
        streams = stream_poller(template, resources, functions, starting_position="LATEST")
        queues = queue_poller(template, resources, functions, retry_seconds=queue_retry_seconds)
        scheduler = Scheduler(
            [(schedule, function_names[schedule.function_id]) for schedule in template.schedules],
            functions.invoke,
            stack_name=template.stack_name,
            scale=schedule_scale,
            run_at_start=queue_feeders(template, resources, functions),
        )
    except BaseException:
        _undo_start(
            function_names, functions=functions, webhooks=webhooks, callrail=callrail, moto=moto, previous=previous
        )
        raise
    streams.start()
    queues.start()
    scheduler.start()
    api_thread = threading.Thread(target=api_server.serve_forever, name="local-api", daemon=True)
    api_thread.start()
    api_url = f"http://{HOST}:{api_server.server_port}"
    runtime = LocalRuntime(
        api_url=api_url,
        aws_endpoint_url=moto.url,
        docs_url=api_url + docs_route.path,
        table_name=resources.table_name,
        config_prefix=config_prefix,
        template=template,
        demo=demo,
        demo_file=demo_file,
        _api_server=api_server,
        _api_thread=api_thread,
        _moto=moto,
        _functions=functions,
        _previous_environment=previous,
        webhooks=webhooks,
        streams=streams,
        queues=queues,
        scheduler=scheduler,
        callrail=callrail,
        function_names=function_names,
        state_machine_arns=dict(resources.state_machine_arns),
        _baseline_threads=baseline,
    )
    if demo_file is not None:
        demo_file.parent.mkdir(parents=True, exist_ok=True)
        demo_file.write_text(json.dumps(runtime.summary(), indent=2) + "\n", encoding="utf-8")
    return runtime


def _undo_start(
    function_names: dict[str, str],
    *,
    functions: FunctionHost | None,
    webhooks: WebhookReceiver,
    callrail: CallRailSampleServer | None,
    moto: MotoServer,
    previous: dict[str, str | None],
) -> None:
    """Stop what a start that failed half-way had started."""
    for name in function_names.values():
        unregister_lambda(name)
    if functions is not None:
        functions.close()
    webhooks.stop()
    if callrail is not None:
        callrail.stop()
    moto.stop()
    restore_environment(previous)
    reset_clients()


def _start_callrail(port: int, arrival_seconds: float | None) -> CallRailSampleServer:
    """The CallRail-compatible sample server (SAMPLE DATA), serving; the demo seed adds its accounts."""
    return CallRailSampleServer(
        port=port, arrival_every_seconds=arrival_seconds, max_arrivals=CALLRAIL_MAX_ARRIVALS
    ).start()


def _serve_functions(functions: FunctionHost, function_names: dict[str, str]) -> None:
    """Lambda invocations through moto (Step Functions' tasks) run the handlers of ``functions`` in-process."""

    def invoker(function_id: str) -> Callable[[Any], Any]:
        return lambda event: functions.invoke(function_id, event)

    for function_id, name in function_names.items():
        register_lambda(name, invoker(function_id))


def stream_poller(
    template: AppTemplate,
    resources: LocalResources,
    functions: FunctionHost,
    *,
    starting_position: str | None = None,
    poll_seconds: float = 0.5,
) -> StreamPoller:
    """A poller for every DynamoDB stream event source mapping of the template (not started)."""
    mappings = [
        MappingState(
            mapping=mapping,
            function_name=resources.function_names.get(mapping.function_id, mapping.function_id),
            stream_arn=resources.stream_arns[mapping.table_id],
            patterns=compile_patterns(mapping.filter_patterns),
        )
        for mapping in template.event_source_mappings
        if mapping.table_id in resources.stream_arns
    ]
    return StreamPoller(
        mappings,
        functions.invoke,
        client("dynamodbstreams"),
        starting_position=starting_position,
        poll_seconds=poll_seconds,
    )


def queue_poller(
    template: AppTemplate,
    resources: LocalResources,
    functions: FunctionHost,
    *,
    poll_seconds: float = 0.5,
    retry_seconds: int = 2,
) -> QueuePoller:
    """A consumer for every SQS event source mapping of the template (not started)."""
    sqs = client("sqs")
    mappings = []
    for mapping in template.sqs_event_source_mappings:
        if mapping.queue_id not in resources.queue_urls:
            continue
        url = resources.queue_urls[mapping.queue_id]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        mappings.append(
            QueueMappingState(
                mapping=mapping,
                function_name=resources.function_names.get(mapping.function_id, mapping.function_id),
                queue_url=url,
                queue_arn=str(arn),
            )
        )
    return QueuePoller(mappings, functions.invoke, sqs, poll_seconds=poll_seconds, retry_seconds=retry_seconds)


def queue_feeders(template: AppTemplate, resources: LocalResources, functions: FunctionHost) -> set[str]:
    """Scheduled functions that send to a queue some function consumes (the poll dispatcher): they run at start.

    A deployed stack polls on its next schedule; locally a developer should see the ingested jobs at once.
    """
    consumed = {
        resources.queue_urls[mapping.queue_id]
        for mapping in template.sqs_event_source_mappings
        if mapping.queue_id in resources.queue_urls
    }
    return {
        schedule.function_id
        for schedule in template.schedules
        if schedule.enabled and consumed & set(functions.environment(schedule.function_id).values())
    }


__all__ = ["DEFAULT_PORT", "LocalResources", "LocalRuntime", "start"]
