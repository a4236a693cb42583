"""The one place the local runtime reaches into moto: Lambda invocations run our handlers in-process.

moto runs a function's code in Docker; ``LambdaFunction._invoke_lambda`` (a private method, moto 5.x) is where it
does so, for ``Invoke`` requests and so for Step Functions' Lambda tasks. :func:`install` replaces it, once per
process, with a call to the handler registered for that function name (:func:`register`): the function's
return value becomes the response payload; an exception becomes a function error whose payload carries
``errorType`` = the exception's class name, as the Lambda Python runtime reports it, so a state machine's
``Retry``/``Catch`` on e.g. ``TransientStageError`` or ``States.ALL`` behaves as deployed. Functions nobody
registered keep moto's own behaviour.

Usable under ``mock_aws`` too (the pipeline's end-to-end test)::

    from infra.local import lambda_hook

    lambda_hook.install()
    with lambda_hook.registered({"my-function": lambda event: handler(event, context)}):
        ...  # create the functions and the state machine in moto, start executions
"""

from __future__ import annotations

import json
import logging
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from moto.awslambda.models import LambdaFunction

from infra.local.method_patch import MethodPatch

logger = logging.getLogger("infra.local.lambda")

Invoke = Callable[[Any], Any]  # the event in, the handler's return value out

_LOCK = threading.Lock()
_REGISTRY: dict[str, Invoke] = {}


def install() -> None:
    """Route moto's Lambda invocations to registered handlers (idempotent)."""
    _PATCH.install()


def uninstall() -> None:
    """Give moto its own ``_invoke_lambda`` back."""
    _PATCH.uninstall()


def register(function_name: str, invoke: Invoke) -> None:
    """Run ``invoke(event)`` when moto invokes the function called ``function_name``."""
    with _LOCK:
        _REGISTRY[function_name] = invoke


def unregister(function_name: str) -> None:
    with _LOCK:
        _REGISTRY.pop(function_name, None)


@contextmanager
def registered(invokes: Mapping[str, Invoke]) -> Iterator[None]:
    """Install the hook and register ``invokes`` (function name -> callable) for the duration of the block."""
    install()
    for name, invoke in invokes.items():
        register(name, invoke)
    try:
        yield
    finally:
        for name in invokes:
            unregister(name)


def invocation_result(invoke: Invoke, event: Any) -> tuple[str, bool, str]:
    """``(payload, errored, logs)`` the way ``_invoke_lambda`` returns them, from an in-process call."""
    try:
        result = invoke(event)
    except Exception as error:  # every handler exception is a function error, as in Lambda
        return _error_payload(type(error).__name__, str(error), traceback.format_exception(error)), True, ""
    try:
        return json.dumps(result), False, ""
    except (TypeError, ValueError) as error:
        return _error_payload("Runtime.MarshalError", f"Unable to marshal response: {error}", []), True, ""


def _error_payload(error_type: str, message: str, stack: list[str]) -> str:
    return json.dumps({"errorMessage": message, "errorType": error_type, "requestId": "", "stackTrace": stack})


def _invoke_lambda(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
    with _LOCK:
        invoke = _REGISTRY.get(self.function_name)
        original = _PATCH.original
    if invoke is None:
        if original is None:  # pragma: no cover - only reachable if uninstalled mid-call
            return _error_payload("ResourceNotFoundException", f"{self.function_name} is not served", []), True, ""
        result: tuple[str, bool, str] = original(self, event)
        return result
    payload, errored, logs = invocation_result(invoke, {} if event is None else event)
    if errored:
        logger.info("%s failed: %s", self.function_name, json.loads(payload)["errorType"])
    return payload, errored, logs


_PATCH = MethodPatch(LambdaFunction, "_invoke_lambda", _invoke_lambda)
