"""What the local runtime serves, read from the synthesized template, so it keeps no list of its own. Every
resource type is :data:`SERVED` or :data:`NOT_SERVED`; any other type, or a feature of a served resource the stack
does not use, is a :class:`TemplateError` naming it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.naming import DEFAULT_STACK_NAME

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
LAMBDA_FUNCTION = "AWS::Lambda::Function"
STATE_MACHINE = "AWS::StepFunctions::StateMachine"
MAPPING = "AWS::Lambda::EventSourceMapping"
BACKEND_TYPES = (  # created in moto (:func:`infra.local.backend.create_resources`)
    *("AWS::DynamoDB::GlobalTable", "AWS::SecretsManager::Secret", "AWS::Events::EventBus", "AWS::S3::Bucket"),
    *("AWS::SQS::Queue", LAMBDA_FUNCTION, STATE_MACHINE),
)
SERVED = frozenset(
    {*BACKEND_TYPES, MAPPING, "AWS::Events::Rule"}
    | {"AWS::ApiGateway::" + kind for kind in ("Authorizer", "Method", "GatewayResponse", "Stage")}
)
# Observability, permissions, encryption, layers and the API's deployment plumbing: nothing to run locally. A
# function's asynchronous retries (EventInvokeConfig) are not served either: the scheduler logs a failed run.
NOT_SERVED = frozenset(
    {
        *("AWS::ApiGateway::" + kind for kind in ("Deployment", "Resource", "RestApi")),
        *("AWS::CloudWatch::" + kind for kind in ("Alarm", "Dashboard")),
        *("AWS::IAM::" + kind for kind in ("Policy", "Role")),
        *("AWS::Lambda::" + kind for kind in ("EventInvokeConfig", "LayerVersion", "Permission")),
        *("AWS::KMS::Key", "AWS::Logs::LogGroup", "AWS::S3::BucketPolicy", "AWS::SNS::Topic"),
        *("AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy", "Custom::S3AutoDeleteObjects"),
    }
)
_SOURCES = {"AWS::DynamoDB::GlobalTable": 100, "AWS::SQS::Queue": 10}  # event source type -> its default batch size
_HEADER_SOURCE = re.compile(r"^method\.request\.header\.(.+)$")
Resources = Mapping[str, Mapping[str, Any]]


class TemplateError(ValueError):
    """The template lacks something the local runtime needs, or uses a construct it does not serve."""


@dataclass(frozen=True)
class FunctionDef:
    logical_id: str
    module: str
    attribute: str
    timeout_seconds: int = 3
    memory_mb: int = 128


@dataclass(frozen=True)
class AuthorizerDef:
    logical_id: str
    function_id: str
    header: str


@dataclass(frozen=True)
class GatewayResponseDef:
    status_code: int | None
    template: str  # the application/json body template
    headers: Mapping[str, str]  # header name -> constant value


@dataclass(frozen=True)
class EventSourceMappingDef:
    logical_id: str
    function_id: str
    source_id: str
    batch_size: int
    starting_position: str = "LATEST"  # streams only
    filter_patterns: tuple[str, ...] = ()  # FilterCriteria.Filters[].Pattern, JSON strings, OR-ed
    report_batch_item_failures: bool = False


@dataclass(frozen=True)
class ScheduleDef:
    logical_id: str
    expression: str  # "rate(5 minutes)"
    function_id: str


@dataclass(frozen=True)
class AppTemplate:
    stack_name: str
    resources: Resources
    functions: Mapping[str, FunctionDef]
    api_function_id: str
    authorizer: AuthorizerDef
    gateway_responses: Mapping[str, GatewayResponseDef]
    stage_name: str
    event_source_mappings: tuple[EventSourceMappingDef, ...] = ()  # from the table's stream
    sqs_event_source_mappings: tuple[EventSourceMappingDef, ...] = ()
    schedules: tuple[ScheduleDef, ...] = ()

    def of_type(self, kind: str) -> list[tuple[str, Mapping[str, Any]]]:
        return list(_of_type(self.resources, kind))

    @classmethod
    def load(cls, path: Path, stack_name: str = DEFAULT_STACK_NAME) -> AppTemplate:
        return cls.parse(json.loads(path.read_text(encoding="utf-8")), stack_name)

    @classmethod
    def parse(cls, template: Mapping[str, Any], stack_name: str = DEFAULT_STACK_NAME) -> AppTemplate:
        resources: dict[str, Mapping[str, Any]] = dict(template.get("Resources", {}))
        if unknown := {str(r.get("Type")) for r in resources.values()} - SERVED - NOT_SERVED:
            raise TemplateError(f"the local runtime does not serve {', '.join(sorted(unknown))}")
        (authorizer,) = _one(resources, "AWS::ApiGateway::Authorizer", lambda i, p: _authorizer(i, p, resources))
        (table_id,) = _one(resources, "AWS::DynamoDB::GlobalTable", lambda logical_id, _: logical_id)
        stages = [props.get("StageName") for _, props in _of_type(resources, "AWS::ApiGateway::Stage")]
        mappings = [_mapping(logical_id, props, resources) for logical_id, props in _of_type(resources, MAPPING)]
        responses = _of_type(resources, "AWS::ApiGateway::GatewayResponse")
        return cls(
            stack_name=stack_name,
            resources=resources,
            functions={logical_id: _function(logical_id, p) for logical_id, p in _of_type(resources, LAMBDA_FUNCTION)},
            api_function_id=_api_function(resources),
            authorizer=authorizer,
            gateway_responses={props["ResponseType"]: _gateway_response(props) for _, props in responses},
            stage_name=next((name for name in stages if isinstance(name, str)), "local"),
            event_source_mappings=tuple(mapping for mapping in mappings if mapping.source_id == table_id),
            sqs_event_source_mappings=tuple(mapping for mapping in mappings if mapping.source_id != table_id),
            schedules=tuple(_schedules(resources)),
        )


def _of_type(resources: Resources, kind: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    return ((logical_id, r.get("Properties") or {}) for logical_id, r in resources.items() if r.get("Type") == kind)


def _one(resources: Resources, kind: str, build: Any) -> list[Any]:
    found = [build(logical_id, props) for logical_id, props in _of_type(resources, kind)]
    if len(found) != 1:
        raise TemplateError(f"the local runtime serves exactly one {kind}; the template has {len(found)}")
    return found


def _api_function(resources: Resources) -> str:
    """The one function every proxied API method invokes (the ``ANY`` mocks answer 405)."""
    targets = set()
    for logical_id, props in _of_type(resources, "AWS::ApiGateway::Method"):
        integration = props.get("Integration") or {}
        if integration.get("Type") == "AWS_PROXY":
            targets.add(referenced_function(integration.get("Uri"), resources, logical_id))
        elif integration.get("Type") != "MOCK":
            raise TemplateError(
                f"method {logical_id}: integration type {integration.get('Type')} is not served locally"
            )
    if len(targets) != 1:
        raise TemplateError(f"the local runtime serves an API proxied to one function, not {len(targets)}")
    return targets.pop()


def _function(logical_id: str, props: Mapping[str, Any]) -> FunctionDef:
    handler = props.get("Handler")
    if not isinstance(handler, str) or "." not in handler:
        raise TemplateError(f"function {logical_id} has no Python handler (Handler={handler!r})")
    module, _, attribute = handler.rpartition(".")
    return FunctionDef(logical_id, module, attribute, int(props.get("Timeout", 3)), int(props.get("MemorySize", 128)))


def _authorizer(logical_id: str, props: Mapping[str, Any], resources: Resources) -> AuthorizerDef:
    source = _HEADER_SOURCE.match(str(props.get("IdentitySource") or ""))
    if props.get("Type") != "REQUEST" or source is None:
        raise TemplateError(f"authorizer {logical_id}: only a REQUEST authorizer on one header is served locally")
    return AuthorizerDef(logical_id, referenced_function(props.get("AuthorizerUri"), resources, logical_id), source[1])


def _gateway_response(props: Mapping[str, Any]) -> GatewayResponseDef:
    headers = {}
    for name, value in (props.get("ResponseParameters") or {}).items():
        if not (name.startswith("gatewayresponse.header.") and str(value).startswith("'")):
            raise TemplateError(f"gateway response parameter {name}={value!r} is not served locally")
        headers[name.removeprefix("gatewayresponse.header.")] = str(value).strip("'")
    status = props.get("StatusCode")
    body = str((props.get("ResponseTemplates") or {}).get("application/json", ""))
    return GatewayResponseDef(int(status) if status is not None else None, body, headers)


def _mapping(logical_id: str, props: Mapping[str, Any], resources: Resources) -> EventSourceMappingDef:
    sources = [ref for ref in _refs(props.get("EventSourceArn")) if resources.get(ref, {}).get("Type") in _SOURCES]
    if not sources:
        raise TemplateError(f"event source mapping {logical_id}: only the table's stream and SQS queues are served")
    return EventSourceMappingDef(
        logical_id=logical_id,
        function_id=referenced_function(props.get("FunctionName"), resources, logical_id),
        source_id=sources[0],
        batch_size=int(props.get("BatchSize", _SOURCES[resources[sources[0]]["Type"]])),
        starting_position=str(props.get("StartingPosition", "LATEST")),
        filter_patterns=tuple(item["Pattern"] for item in (props.get("FilterCriteria") or {}).get("Filters") or []),
        report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
    )


def _schedules(resources: Resources) -> Iterator[ScheduleDef]:
    for logical_id, props in _of_type(resources, "AWS::Events::Rule"):
        expression = props.get("ScheduleExpression")
        if not isinstance(expression, str):
            raise TemplateError(f"rule {logical_id}: only scheduled rules are served locally")
        if props.get("State", "ENABLED") != "ENABLED":
            raise TemplateError(f"rule {logical_id}: only enabled rules are served locally")
        for target in props.get("Targets") or []:
            if {"Input", "InputPath", "InputTransformer"} & set(target):
                raise TemplateError(f"rule {logical_id}: a target's own input is not served locally")
            yield ScheduleDef(logical_id, expression, referenced_function(target.get("Arn"), resources, logical_id))


def referenced_function(value: Any, resources: Resources, user: str) -> str:
    """The logical id of the Lambda function ``value`` (in resource ``user``) refers to."""
    for target in _refs(value):
        if resources.get(target, {}).get("Type") == LAMBDA_FUNCTION:
            return target
    raise TemplateError(f"{user} invokes a function outside this stack: {value!r}")


def _refs(value: Any) -> Iterator[str]:
    """Every logical id a value refers to by ``Ref`` or ``Fn::GetAtt``, in order."""
    if isinstance(value, dict):
        if isinstance(value.get("Ref"), str):
            yield value["Ref"]
        elif "Fn::GetAtt" in value:
            yield value["Fn::GetAtt"][0]
        else:
            for item in value.values():
                yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)
