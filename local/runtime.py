"""Start and stop the whole local runtime: moto, the stack's resources, demo data and the API server."""

from __future__ import annotations

import json
import logging
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from local.backend import (
    HOST,
    LocalResources,
    MotoServer,
    apply_environment,
    aws_environment,
    create_resources,
    restore_environment,
)
from local.functions import FunctionHost
from local.gateway import Gateway
from local.seed import DemoData, seed_demo
from local.synth import STACK_NAME, synthesize
from local.template import AppTemplate, Resolver, Route
from shared.aws import reset_clients

logger = logging.getLogger("local")

DEFAULT_PORT = 8000
DEFAULT_CONFIG_PREFIX = "/gensail/config"
DEFAULT_DEMO_FILE = Path(".local/demo.json")
DOCS_NAME = "docs"


@dataclass
class LocalRuntime:
    """A running local runtime. ``stop()`` shuts both servers down and restores the process environment."""

    api_url: str
    aws_endpoint_url: str
    docs_url: str | None
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
            **self.demo.as_json(),
        }

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._api_server.shutdown()
        self._api_server.server_close()
        self._api_thread.join(timeout=10)
        self._moto.stop()
        self._functions.close()
        restore_environment(self._previous_environment)
        reset_clients()


def start(
    port: int = DEFAULT_PORT,
    *,
    template_path: Path | None = None,
    demo_file: Path | None = DEFAULT_DEMO_FILE,
    seed: int = 7,
    aws_port: int = 0,
    stack_name: str = STACK_NAME,
) -> LocalRuntime:
    """Serve the synthesized app on ``127.0.0.1:port`` (0 picks a free port) over fresh demo data."""
    if template_path is None:
        with tempfile.TemporaryDirectory(prefix="gensail-synth-") as outdir:
            template = AppTemplate.load(synthesize(Path(outdir), stack_name), stack_name)
    else:
        template = AppTemplate.load(template_path, stack_name)

    moto = MotoServer(aws_port)
    moto.start()
    previous = apply_environment(aws_environment(moto.url))
    reset_clients()
    functions: FunctionHost | None = None
    try:
        resources = create_resources(template, moto.url)
        functions = FunctionHost(template, Resolver(template, resources.refs))
        config_prefix = _config_prefix(template, functions)
        demo = seed_demo(resources.table_name, config_prefix, seed=seed)
        docs_route = _enable_swagger(template, functions)
        gateway = Gateway(template, functions, extra_routes=[docs_route] if docs_route else [])
        api_server = make_server(HOST, port, gateway, threaded=True)
    except BaseException:
        if functions is not None:
            functions.close()
        moto.stop()
        restore_environment(previous)
        reset_clients()
        raise
    api_thread = threading.Thread(target=api_server.serve_forever, name="local-api", daemon=True)
    api_thread.start()
    api_url = f"http://{HOST}:{api_server.server_port}"
    runtime = LocalRuntime(
        api_url=api_url,
        aws_endpoint_url=moto.url,
        docs_url=api_url + docs_route.path if docs_route else None,
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
    )
    if demo_file is not None:
        demo_file.parent.mkdir(parents=True, exist_ok=True)
        demo_file.write_text(json.dumps(runtime.summary(), indent=2) + "\n", encoding="utf-8")
    return runtime


def _config_prefix(template: AppTemplate, functions: FunctionHost) -> str:
    """The SSM prefix of the config documents, as the stack exports it or tells its functions."""
    for name, value in template.outputs.items():
        if "Config" in name and "Prefix" in name and isinstance(value, str):
            return value
    for function_id in template.functions:
        for name, value in functions.environment(function_id).items():
            if "CONFIG" in name and ("PREFIX" in name or "PATH" in name) and value.startswith("/"):
                return value
    return DEFAULT_CONFIG_PREFIX


def _api_function(template: AppTemplate) -> str | None:
    """The function most API routes proxy to: the one whose resolver documents the API."""
    targets = [route.function_id for route in template.routes if route.function_id]
    return max(set(targets), key=targets.count) if targets else None


def _enable_swagger(template: AppTemplate, functions: FunctionHost) -> Route | None:
    """Serve Swagger UI from the API function's resolver, next to its OpenAPI document (local only)."""
    function_id = _api_function(template)
    if function_id is None:
        return None
    module = functions.module(function_id)
    resolver = getattr(module, "app", None)
    if resolver is None or not hasattr(resolver, "enable_swagger"):
        return None
    spec_routes = [route for route in template.routes if route.path.endswith("/openapi.json")]
    base = spec_routes[0].path.rpartition("/")[0] if spec_routes else ""
    path = f"{base}/{DOCS_NAME}"
    # A warm module (tests start the runtime more than once per process) already serves the page.
    if path not in getattr(module, "_local_swagger_paths", set()):
        options: dict[str, Any] = getattr(module, "OPENAPI", {})
        resolver.enable_swagger(path=path, **options)
        module._local_swagger_paths = {*getattr(module, "_local_swagger_paths", set()), path}  # type: ignore[attr-defined]
    return Route(method="GET", path=path, integration="AWS_PROXY", function_id=function_id, authorizer_id=None)


__all__ = ["DEFAULT_PORT", "LocalResources", "LocalRuntime", "start"]
