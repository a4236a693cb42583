"""Run the stack's Lambda handlers in this process, each with the environment the template gives it."""

from __future__ import annotations

import gc
import importlib
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from types import ModuleType
from typing import Any
from unittest import mock

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.utilities.parameters import clear_caches as clear_parameter_caches

from infra.local.environ import overlay
from infra.local.template import ACCOUNT_ID, REGION, AppTemplate, FunctionDef

# Quiet observability locally (a request would print several JSON lines), unless the operator's environment says
# otherwise: ``POWERTOOLS_LOG_LEVEL=INFO make run`` shows the functions' logs.
LOCAL_DEFAULTS = {
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
}

Handler = Callable[[dict[str, Any], Any], Any]


class LambdaContext:
    """The parts of the Lambda context object that handlers and Powertools read."""

    def __init__(self, function: FunctionDef) -> None:
        self.function_name = function.logical_id
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function.logical_id}"
        self.memory_limit_in_mb = function.memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function.logical_id}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + function.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class FunctionHost:
    """Imports each function by its ``Handler`` and invokes it with its own environment: variables all functions
    share are set for the process, the rest laid over them for the running thread (:mod:`infra.local.environ`).
    One warm instance per function: its invocations are serialized, different functions run at once.
    """

    def __init__(
        self,
        template: AppTemplate,
        environments: Mapping[str, Mapping[str, str]],
        *,
        replacements: Mapping[str, str] | None = None,
    ) -> None:
        """``replacements`` replace variables where the template sets them (the CallRail API URL: the sample server)."""
        replacements = replacements or {}
        self._template = template
        overrides = {name: os.environ[name] for name in LOCAL_DEFAULTS if name in os.environ}
        self._environments: dict[str, dict[str, str]] = {}
        for logical_id in template.functions:
            environment = environments[logical_id]
            replaced = {name: value for name, value in replacements.items() if name in environment}
            self._environments[logical_id] = {**environment, **replaced, **LOCAL_DEFAULTS, **overrides}
        self.replaced = frozenset(i for i in template.functions if set(replacements) & set(environments[i]))
        shared = {
            name: value
            for name, value in self._environments[next(iter(self._environments))].items()
            if all(environment.get(name) == value for environment in self._environments.values())
        }
        self._own = {
            function_id: {name: value for name, value in environment.items() if name not in shared}
            for function_id, environment in self._environments.items()
        }
        self._shared = mock.patch.dict(os.environ, shared)
        self._shared.start()
        # Powertools' parameter providers keep a boto3 client and values per process: a cold start has neither.
        clear_parameter_caches()  # type: ignore[no-untyped-call]  # Powertools leaves it unannotated
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.RLock()  # imports and the handler table
        self._instances = {function_id: threading.Lock() for function_id in template.functions}

    def environment(self, function_id: str) -> Mapping[str, str]:
        return self._environments[function_id]

    def module(self, function_id: str) -> ModuleType:
        self.handler(function_id)
        return sys.modules[self._template.functions[function_id].module]

    def handler(self, function_id: str) -> Handler:
        with self._lock:
            if function_id not in self._handlers:
                function = self._template.functions[function_id]
                already = function.module in sys.modules
                with overlay(self._own[function_id]):
                    module = importlib.import_module(function.module)
                if already:  # imported by another caller (tests): its cached settings and clients are not ours
                    _clear_caches(module)
                self._handlers[function_id] = getattr(module, function.attribute)
            return self._handlers[function_id]

    def invoke(self, function_id: str, event: Any) -> Any:
        handler = self.handler(function_id)
        with self._instances[function_id], overlay(self._own[function_id]):
            try:
                return handler(event, LambdaContext(self._template.functions[function_id]))
            finally:
                # With metrics disabled, Powertools never flushes, so its process-wide metric set would only
                # grow (and reach whatever later flushes in this process); drop it after each invocation.
                Metrics().clear_metrics()

    def close(self) -> None:
        self._shared.stop()

    def release(self, function_ids: Collection[str]) -> None:
        """End these functions' warm instances and their modules' caches, so their clients' connections close (only
        for functions nothing invokes any more)."""
        with self._lock:
            for function_id in function_ids:
                if self._handlers.pop(function_id, None) is not None:
                    _clear_caches(sys.modules[self._template.functions[function_id].module])
        gc.collect()


def _clear_caches(module: ModuleType) -> None:
    """Drop the ``functools.cache`` results a handler module reaches at module level, its package's included."""
    package = module.__name__.split(".")[0] + "."
    for value in vars(module).values():
        if (
            callable(value)
            and hasattr(value, "cache_clear")
            and str(getattr(value, "__module__", "")).startswith(package)
        ):
            value.cache_clear()
