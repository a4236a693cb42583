"""Read what the local runtime needs out of a synthesized CloudFormation template.

Routes, authorizers, gateway responses, function handlers and environments, the table, secrets and parameters,
the stream and queue event source mappings, the schedules, the state machines, buckets, event buses and queues all come
from the template that ``cdk synth`` produces, so the local runtime serves the deployed wiring and keeps no list
of its own. Intrinsic functions are resolved against local values with :class:`Resolver`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.naming import DEFAULT_STACK_NAME

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
PARTITION = "aws"

LAMBDA_FUNCTION = "AWS::Lambda::Function"
_LAMBDA_ALIAS = "AWS::Lambda::Alias"
_TABLE_TYPES = ("AWS::DynamoDB::GlobalTable", "AWS::DynamoDB::Table")
_HEADER_SOURCE = re.compile(r"^method\.request\.header\.(.+)$")
_QUERY_SOURCE = re.compile(r"^method\.request\.querystring\.(.+)$")
_DEFAULT_AUTHORIZER_TTL = 300  # API Gateway's default when AuthorizerResultTtlInSeconds is not set


class TemplateError(ValueError):
    """The template lacks something the local runtime needs, or uses a construct it cannot serve."""


@dataclass(frozen=True)
class FunctionDef:
    """A Lambda function: its handler (``package.module.function``) and its environment, still unresolved."""

    logical_id: str
    handler: str
    environment: Mapping[str, Any]
    timeout_seconds: int = 3
    memory_mb: int = 128

    @property
    def module(self) -> str:
        return self.handler.rpartition(".")[0]

    @property
    def attribute(self) -> str:
        return self.handler.rpartition(".")[2]


@dataclass(frozen=True)
class IdentitySource:
    """Where API Gateway reads one identity value of a REQUEST authorizer: a header or a query parameter."""

    location: str  # "header" or "query"
    name: str


@dataclass(frozen=True)
class AuthorizerDef:
    logical_id: str
    type: str  # REQUEST or TOKEN
    function_id: str
    identity_sources: tuple[IdentitySource, ...]
    ttl_seconds: int


@dataclass(frozen=True)
class Route:
    """One API Gateway method: an HTTP method on a resource path such as ``/api/v1/jobs/{job_id}``."""

    method: str  # upper case; "ANY" matches every method
    path: str
    integration: str  # AWS_PROXY or MOCK
    function_id: str | None
    authorizer_id: str | None
    mock_status: int = 200
    mock_headers: Mapping[str, str] = field(default_factory=dict)
    mock_body: str = ""

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(part for part in self.path.split("/") if part)


@dataclass(frozen=True)
class GatewayResponseDef:
    response_type: str
    status_code: int | None
    templates: Mapping[str, str]
    headers: Mapping[str, str]  # header name -> raw mapping expression, e.g. "'application/problem+json'"


@dataclass(frozen=True)
class TableDef:
    logical_id: str
    properties: Mapping[str, Any]

    def name(self, stack_name: str) -> str:
        given = self.properties.get("TableName")
        return given if isinstance(given, str) else f"{stack_name}-{self.logical_id}"

    def create_table_args(self, table_name: str) -> dict[str, Any]:
        """``CreateTable`` arguments for moto, on demand (a local table needs no capacity planning)."""
        props = self.properties
        args: dict[str, Any] = {
            "TableName": table_name,
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
        }
        indexes = [_index_args(index) for index in props.get("GlobalSecondaryIndexes", [])]
        if indexes:
            args["GlobalSecondaryIndexes"] = indexes
        local_indexes = [_index_args(index) for index in props.get("LocalSecondaryIndexes", [])]
        if local_indexes:
            args["LocalSecondaryIndexes"] = local_indexes
        stream = props.get("StreamSpecification") or {}
        if stream.get("StreamViewType"):
            args["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
        return args

    @property
    def ttl_attribute(self) -> str | None:
        spec = self.properties.get("TimeToLiveSpecification") or {}
        return spec.get("AttributeName") if spec.get("Enabled") else None


def _index_args(index: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "IndexName": index["IndexName"],
        "KeySchema": index["KeySchema"],
        "Projection": index.get("Projection", {"ProjectionType": "ALL"}),
    }


@dataclass(frozen=True)
class SecretDef:
    logical_id: str
    name: str | None
    secret_string: str | None  # None: generated (GenerateSecretString)


@dataclass(frozen=True)
class ParameterDef:
    logical_id: str
    name: Any  # may be an intrinsic
    value: Any
    type: str


@dataclass(frozen=True)
class EventSourceMappingDef:
    """A DynamoDB stream -> Lambda event source mapping (other event sources are not served locally)."""

    logical_id: str
    function_id: str
    table_id: str
    batch_size: int = 100
    starting_position: str = "LATEST"
    filter_patterns: tuple[str, ...] = ()  # FilterCriteria.Filters[].Pattern, JSON strings, OR-ed
    report_batch_item_failures: bool = False
    maximum_retry_attempts: int = -1  # -1: until the record expires, as in AWS
    bisect_on_error: bool = False
    on_failure_queue_id: str | None = None  # logical id of the SQS queue of DestinationConfig.OnFailure
    enabled: bool = True


@dataclass(frozen=True)
class SqsEventSourceMappingDef:
    """An SQS queue -> Lambda event source mapping."""

    logical_id: str
    function_id: str
    queue_id: str
    batch_size: int = 10
    report_batch_item_failures: bool = False
    maximum_concurrency: int | None = None  # ScalingConfig.MaximumConcurrency (one consumer thread locally)
    maximum_batching_window_seconds: int = 0
    enabled: bool = True


@dataclass(frozen=True)
class ScheduleDef:
    """An EventBridge rule on a schedule that targets a function of the stack."""

    logical_id: str
    expression: str  # "rate(5 minutes)" or "cron(...)"
    function_id: str
    input: Any = None  # the target's constant Input (a JSON string), if any
    enabled: bool = True


@dataclass(frozen=True)
class StateMachineDef:
    logical_id: str
    name: str | None
    definition: Any  # DefinitionString (maybe an intrinsic) or Definition (an object)
    substitutions: Mapping[str, Any] = field(default_factory=dict)
    type: str = "STANDARD"

    def function_ids(self, resources: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """The stack's functions the definition invokes, in order of first mention."""
        found: list[str] = []
        for target in [*_references(self.definition), *_references(dict(self.substitutions))]:
            if resources.get(target, {}).get("Type") == LAMBDA_FUNCTION and target not in found:
                found.append(target)
        return found

    def resolve(self, resolver: Resolver) -> str:
        """The Amazon States Language document, with every reference resolved to its local ARN or name."""
        raw = resolver.resolve(self.definition)
        text = raw if isinstance(raw, str) else json.dumps(raw)
        for name, value in self.substitutions.items():
            text = text.replace("${" + name + "}", str(resolver.resolve(value)))
        json.loads(text)  # a definition that does not parse is a template problem, said here rather than later
        return text


@dataclass(frozen=True)
class NamedResourceDef:
    """A resource the local runtime only needs to create by name: a bucket, an event bus or a queue."""

    logical_id: str
    name: str | None  # the template's explicit name, if it gives one
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AppTemplate:
    """The parts of one stack's template that the local runtime serves."""

    stack_name: str
    resources: Mapping[str, Mapping[str, Any]]
    functions: Mapping[str, FunctionDef]
    routes: tuple[Route, ...]
    authorizers: Mapping[str, AuthorizerDef]
    gateway_responses: Mapping[str, GatewayResponseDef]
    tables: tuple[TableDef, ...]
    secrets: tuple[SecretDef, ...]
    parameters: tuple[ParameterDef, ...]
    stage_name: str
    outputs: Mapping[str, Any] = field(default_factory=dict)  # output name -> unresolved value
    event_source_mappings: tuple[EventSourceMappingDef, ...] = ()
    sqs_event_source_mappings: tuple[SqsEventSourceMappingDef, ...] = ()
    schedules: tuple[ScheduleDef, ...] = ()
    state_machines: tuple[StateMachineDef, ...] = ()
    buckets: tuple[NamedResourceDef, ...] = ()
    event_buses: tuple[NamedResourceDef, ...] = ()
    queues: tuple[NamedResourceDef, ...] = ()

    @classmethod
    def load(cls, path: Path, stack_name: str = DEFAULT_STACK_NAME) -> AppTemplate:
        return cls.parse(json.loads(path.read_text(encoding="utf-8")), stack_name)

    @classmethod
    def parse(cls, template: Mapping[str, Any], stack_name: str = DEFAULT_STACK_NAME) -> AppTemplate:
        resources: dict[str, Mapping[str, Any]] = dict(template.get("Resources", {}))
        functions = {
            logical_id: _function(logical_id, resource["Properties"])
            for logical_id, resource in _of_type(resources, LAMBDA_FUNCTION)
        }
        authorizers = {
            logical_id: _authorizer(logical_id, resource["Properties"], resources)
            for logical_id, resource in _of_type(resources, "AWS::ApiGateway::Authorizer")
        }
        gateway_responses = {
            resource["Properties"]["ResponseType"]: _gateway_response(resource["Properties"])
            for _, resource in _of_type(resources, "AWS::ApiGateway::GatewayResponse")
        }
        stages = [
            resource["Properties"].get("StageName") for _, resource in _of_type(resources, "AWS::ApiGateway::Stage")
        ]
        return cls(
            stack_name=stack_name,
            resources=resources,
            functions=functions,
            routes=tuple(_routes(resources)),
            authorizers=authorizers,
            gateway_responses=gateway_responses,
            tables=tuple(TableDef(logical_id, resource["Properties"]) for logical_id, resource in _tables(resources)),
            secrets=tuple(
                _secret(logical_id, resource.get("Properties", {}))
                for logical_id, resource in _of_type(resources, "AWS::SecretsManager::Secret")
            ),
            parameters=tuple(
                ParameterDef(
                    logical_id,
                    resource["Properties"].get("Name"),
                    resource["Properties"]["Value"],
                    resource["Properties"].get("Type", "String"),
                )
                for logical_id, resource in _of_type(resources, "AWS::SSM::Parameter")
            ),
            stage_name=next((name for name in stages if isinstance(name, str)), "local"),
            outputs={name: output.get("Value") for name, output in template.get("Outputs", {}).items()},
            event_source_mappings=tuple(_event_source_mappings(resources)),
            sqs_event_source_mappings=tuple(_sqs_event_source_mappings(resources)),
            schedules=tuple(_schedules(resources)),
            state_machines=tuple(
                _state_machine(logical_id, resource.get("Properties", {}))
                for logical_id, resource in _of_type(resources, "AWS::StepFunctions::StateMachine")
            ),
            buckets=_named(resources, "AWS::S3::Bucket", "BucketName"),
            event_buses=_named(resources, "AWS::Events::EventBus", "Name"),
            queues=_named(resources, "AWS::SQS::Queue", "QueueName"),
        )

    def function_for_handler(self, handler: str) -> FunctionDef | None:
        return next((function for function in self.functions.values() if function.handler == handler), None)

    @property
    def table(self) -> TableDef:
        if len(self.tables) != 1:
            raise TemplateError(f"expected exactly one DynamoDB table in the template, found {len(self.tables)}")
        return self.tables[0]


def _named(resources: Mapping[str, Mapping[str, Any]], kind: str, name_property: str) -> tuple[NamedResourceDef, ...]:
    found = []
    for logical_id, resource in _of_type(resources, kind):
        props = resource.get("Properties") or {}
        name = props.get(name_property)
        found.append(NamedResourceDef(logical_id, name if isinstance(name, str) else None, dict(props)))
    return tuple(found)


def _event_source_mappings(resources: Mapping[str, Mapping[str, Any]]) -> Iterator[EventSourceMappingDef]:
    for logical_id, resource in _of_type(resources, "AWS::Lambda::EventSourceMapping"):
        props = resource.get("Properties") or {}
        source = [target for target in _references(props.get("EventSourceArn")) if target in dict(_tables(resources))]
        if not source:
            continue  # SQS: _sqs_event_source_mappings; Kinesis, Kafka...: not served locally
        function_id = referenced_function(props.get("FunctionName"), resources)
        if function_id is None:
            raise TemplateError(f"event source mapping {logical_id} invokes a function outside this stack")
        on_failure = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        queue = [
            target for target in _references(on_failure) if resources.get(target, {}).get("Type") == "AWS::SQS::Queue"
        ]
        filters = (props.get("FilterCriteria") or {}).get("Filters") or []
        yield EventSourceMappingDef(
            logical_id=logical_id,
            function_id=function_id,
            table_id=source[0],
            batch_size=int(props.get("BatchSize", 100)),
            starting_position=str(props.get("StartingPosition", "LATEST")),
            filter_patterns=tuple(
                item["Pattern"] if isinstance(item["Pattern"], str) else json.dumps(item["Pattern"])
                for item in filters
                if "Pattern" in item
            ),
            report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
            maximum_retry_attempts=int(props.get("MaximumRetryAttempts", -1)),
            bisect_on_error=bool(props.get("BisectBatchOnFunctionError", False)),
            on_failure_queue_id=queue[0] if queue else None,
            enabled=props.get("Enabled", True) is not False,
        )


def _sqs_event_source_mappings(resources: Mapping[str, Mapping[str, Any]]) -> Iterator[SqsEventSourceMappingDef]:
    for logical_id, resource in _of_type(resources, "AWS::Lambda::EventSourceMapping"):
        props = resource.get("Properties") or {}
        source = [
            target
            for target in _references(props.get("EventSourceArn"))
            if resources.get(target, {}).get("Type") == "AWS::SQS::Queue"
        ]
        if not source:
            continue
        function_id = referenced_function(props.get("FunctionName"), resources)
        if function_id is None:
            raise TemplateError(f"event source mapping {logical_id} invokes a function outside this stack")
        concurrency = (props.get("ScalingConfig") or {}).get("MaximumConcurrency")
        yield SqsEventSourceMappingDef(
            logical_id=logical_id,
            function_id=function_id,
            queue_id=source[0],
            batch_size=int(props.get("BatchSize", 10)),
            report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
            maximum_concurrency=int(concurrency) if concurrency is not None else None,
            maximum_batching_window_seconds=int(props.get("MaximumBatchingWindowInSeconds", 0)),
            enabled=props.get("Enabled", True) is not False,
        )


def _schedules(resources: Mapping[str, Mapping[str, Any]]) -> Iterator[ScheduleDef]:
    for logical_id, resource in _of_type(resources, "AWS::Events::Rule"):
        props = resource.get("Properties") or {}
        expression = props.get("ScheduleExpression")
        if not isinstance(expression, str):
            continue  # event-pattern rules are not scheduled
        for target in props.get("Targets") or []:
            function_id = referenced_function(target.get("Arn"), resources)
            if function_id is not None:
                yield ScheduleDef(
                    logical_id=logical_id,
                    expression=expression,
                    function_id=function_id,
                    input=target.get("Input"),
                    enabled=props.get("State", "ENABLED") == "ENABLED",
                )


def _state_machine(logical_id: str, props: Mapping[str, Any]) -> StateMachineDef:
    definition = props.get("DefinitionString", props.get("Definition"))
    if definition is None:
        raise TemplateError(f"state machine {logical_id} has no inline definition (DefinitionS3Location?)")
    name = props.get("StateMachineName")
    return StateMachineDef(
        logical_id=logical_id,
        name=name if isinstance(name, str) else None,
        definition=definition,
        substitutions=dict(props.get("DefinitionSubstitutions") or {}),
        type=str(props.get("StateMachineType", "STANDARD")),
    )


def _of_type(resources: Mapping[str, Mapping[str, Any]], kind: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    return ((logical_id, resource) for logical_id, resource in resources.items() if resource.get("Type") == kind)


def _tables(resources: Mapping[str, Mapping[str, Any]]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    return (
        (logical_id, resource) for logical_id, resource in resources.items() if resource.get("Type") in _TABLE_TYPES
    )


def _function(logical_id: str, props: Mapping[str, Any]) -> FunctionDef:
    handler = props.get("Handler")
    if not isinstance(handler, str) or "." not in handler:
        raise TemplateError(f"function {logical_id} has no Python handler (Handler={handler!r})")
    return FunctionDef(
        logical_id=logical_id,
        handler=handler,
        environment=dict((props.get("Environment") or {}).get("Variables") or {}),
        timeout_seconds=int(props.get("Timeout", 3)),
        memory_mb=int(props.get("MemorySize", 128)),
    )


def _authorizer(logical_id: str, props: Mapping[str, Any], resources: Mapping[str, Mapping[str, Any]]) -> AuthorizerDef:
    function_id = referenced_function(props.get("AuthorizerUri"), resources)
    if function_id is None:
        raise TemplateError(f"authorizer {logical_id} does not invoke a Lambda function of this stack")
    sources = []
    for raw_source in str(props.get("IdentitySource") or "").split(","):
        source = raw_source.strip()
        if match := _HEADER_SOURCE.match(source):
            sources.append(IdentitySource("header", match.group(1)))
        elif match := _QUERY_SOURCE.match(source):
            sources.append(IdentitySource("query", match.group(1)))
        elif source:
            raise TemplateError(f"authorizer {logical_id}: identity source {source!r} is not served locally")
    return AuthorizerDef(
        logical_id=logical_id,
        type=str(props.get("Type", "REQUEST")),
        function_id=function_id,
        identity_sources=tuple(sources),
        ttl_seconds=int(props.get("AuthorizerResultTtlInSeconds", _DEFAULT_AUTHORIZER_TTL)),
    )


def _gateway_response(props: Mapping[str, Any]) -> GatewayResponseDef:
    headers = {
        name.removeprefix("gatewayresponse.header."): str(value)
        for name, value in (props.get("ResponseParameters") or {}).items()
        if name.startswith("gatewayresponse.header.")
    }
    status = props.get("StatusCode")
    return GatewayResponseDef(
        response_type=props["ResponseType"],
        status_code=int(status) if status is not None else None,
        templates=dict(props.get("ResponseTemplates") or {}),
        headers=headers,
    )


def _secret(logical_id: str, props: Mapping[str, Any]) -> SecretDef:
    name = props.get("Name")
    secret = props.get("SecretString")
    return SecretDef(
        logical_id=logical_id,
        name=name if isinstance(name, str) else None,
        secret_string=secret if isinstance(secret, str) else None,
    )


def referenced_function(value: Any, resources: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The logical id of the Lambda function an integration or authorizer URI points at (through aliases)."""
    for target in _references(value):
        kind = resources.get(target, {}).get("Type")
        if kind == LAMBDA_FUNCTION:
            return target
        if kind == _LAMBDA_ALIAS:
            return referenced_function(resources[target]["Properties"].get("FunctionName"), resources)
    return None


def _references(value: Any) -> Iterator[str]:
    """Every logical id a value refers to by ``Ref`` or ``Fn::GetAtt``, in order."""
    if isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str):
            yield value["Ref"]
        elif "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            yield target[0] if isinstance(target, list) else str(target).split(".")[0]
        else:
            for item in value.values():
                yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def _routes(resources: Mapping[str, Mapping[str, Any]]) -> Iterator[Route]:
    paths: dict[str, str] = {}

    def path_of(resource_ref: Any) -> str:
        if isinstance(resource_ref, dict) and "Fn::GetAtt" in resource_ref:
            return "/"  # the RestApi's RootResourceId
        logical_id = resource_ref.get("Ref") if isinstance(resource_ref, dict) else None
        if not isinstance(logical_id, str) or resources.get(logical_id, {}).get("Type") != "AWS::ApiGateway::Resource":
            raise TemplateError(f"cannot follow API resource reference {resource_ref!r}")
        if logical_id not in paths:
            props = resources[logical_id]["Properties"]
            parent = path_of(props["ParentId"])
            paths[logical_id] = parent.rstrip("/") + "/" + props["PathPart"]
        return paths[logical_id]

    for logical_id, resource in _of_type(resources, "AWS::ApiGateway::Method"):
        props = resource["Properties"]
        integration = props.get("Integration") or {}
        kind = integration.get("Type", "MOCK")
        function_id = referenced_function(integration.get("Uri"), resources) if kind == "AWS_PROXY" else None
        if kind == "AWS_PROXY" and function_id is None:
            raise TemplateError(f"method {logical_id} proxies to a Lambda function outside this stack")
        if kind not in ("AWS_PROXY", "MOCK"):
            raise TemplateError(f"method {logical_id}: integration type {kind} is not served locally")
        authorizer = (
            props.get("AuthorizerId") if props.get("AuthorizationType") in ("CUSTOM", "COGNITO_USER_POOLS") else None
        )
        mock = (integration.get("IntegrationResponses") or [{}])[0]
        yield Route(
            method=str(props["HttpMethod"]).upper(),
            path=path_of(props["ResourceId"]),
            integration=kind,
            function_id=function_id,
            authorizer_id=authorizer.get("Ref") if isinstance(authorizer, dict) else None,
            mock_status=int(mock.get("StatusCode", 200)),
            mock_headers={
                name.removeprefix("method.response.header."): str(value).strip("'")
                for name, value in (mock.get("ResponseParameters") or {}).items()
                if name.startswith("method.response.header.")
            },
            mock_body=str((mock.get("ResponseTemplates") or {}).get("application/json", "")),
        )


class Resolver:
    """Resolves CloudFormation intrinsics against the local stand-ins of the stack's resources.

    ``refs`` maps a logical id to what ``Ref`` returns locally (a table name, a secret ARN, a parameter name);
    resources without a local stand-in resolve to a placeholder name so unrelated settings still load.
    """

    def __init__(self, template: AppTemplate, refs: Mapping[str, str], attributes: Mapping[str, str] | None = None):
        self._template = template
        self._refs = dict(refs)
        self._attributes = dict(attributes or {})

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {key: self.resolve(item) for key, item in value.items()}
        (name, argument), *_ = value.items()
        intrinsic = self._intrinsics.get(name)
        if intrinsic is None:
            return {key: self.resolve(item) for key, item in value.items()}
        return intrinsic(argument)

    @property
    def _intrinsics(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": self._ref,
            "Fn::GetAtt": lambda argument: self._get_att(
                *(argument if isinstance(argument, list) else str(argument).split(".", 1))
            ),
            "Fn::Join": lambda argument: str(argument[0]).join(str(item) for item in self.resolve(argument[1])),
            "Fn::Select": lambda argument: self.resolve(argument[1])[int(self.resolve(argument[0]))],
            "Fn::Split": lambda argument: str(self.resolve(argument[1])).split(argument[0]),
            "Fn::Sub": self._sub,
            "Fn::ImportValue": self._import_value,
        }

    def _import_value(self, argument: Any) -> str:
        raise TemplateError(f"cross-stack import {argument!r} cannot be resolved locally")

    def _ref(self, logical_id: str) -> str:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": PARTITION,
            "AWS::StackName": self._template.stack_name,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": "",
        }
        if logical_id in pseudo:
            return pseudo[logical_id]
        return self._refs.get(logical_id, f"{self._template.stack_name}-{logical_id}")

    def _get_att(self, logical_id: str, attribute: str) -> str:
        if f"{logical_id}.{attribute}" in self._attributes:
            return self._attributes[f"{logical_id}.{attribute}"]
        kind = str(self._template.resources.get(logical_id, {}).get("Type", "AWS::Unknown::Resource"))
        service = kind.split("::")[1].lower()
        name = self._ref(logical_id)
        if attribute == "Arn":
            if service == "dynamodb":
                return f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"
            if service == "lambda":
                return f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
            return f"arn:{PARTITION}:{service}:{REGION}:{ACCOUNT_ID}:{name}"
        return name

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
        resolved = {key: str(self.resolve(item)) for key, item in variables.items()}

        def replace(match: re.Match[str]) -> str:
            token = match.group(1)
            if token in resolved:
                return resolved[token]
            if "." in token and not token.startswith("AWS::"):
                logical_id, attribute = token.split(".", 1)
                return self._get_att(logical_id, attribute)
            return self._ref(token)

        return re.sub(r"\$\{([^}!][^}]*)\}", replace, str(text))

    def environment(self, function: FunctionDef) -> dict[str, str]:
        """A function's environment variables with every intrinsic resolved to a local value."""
        return {name: str(self.resolve(value)) for name, value in function.environment.items()}
