"""Reading the synthesized template: rendered IAM grants, alarms, queues (shared by the infra tests)."""

from __future__ import annotations

from typing import Any

from tests.infra.conftest import Synthesized


def only(resources: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    ((logical_id, resource),) = resources.items()
    return logical_id, resource


def render(value: Any) -> str:
    """An IAM resource as text: ``<Id.Arn>`` for a GetAtt, ``<Id>`` for a Ref, joins concatenated."""
    if isinstance(value, str):
        return value
    if "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        return f"<{logical_id}.{attribute}>"
    if "Ref" in value:
        return f"<{value['Ref']}>"
    separator, parts = value["Fn::Join"]
    return str(separator).join(render(part) for part in parts)


def role_grants(synthesized: Synthesized, role_id: str) -> dict[str, set[str]]:
    """Action -> rendered resources, over every policy attached to the role (CloudWatch Logs writes left out)."""
    grants: dict[str, set[str]] = {}
    for policy in synthesized.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for action in actions:
                grants.setdefault(action, set()).update(render(resource) for resource in resources)
    return grants


def function_grants(synthesized: Synthesized, handler: str) -> dict[str, set[str]]:
    function = synthesized.template_json["Resources"][synthesized.function_id(handler)]
    grants = role_grants(synthesized, function["Properties"]["Role"]["Fn::GetAtt"][0])
    return {action: resources for action, resources in grants.items() if action not in LOG_WRITES}


LOG_WRITES = {"logs:CreateLogStream", "logs:PutLogEvents"}


def queue_is_private(synthesized: Synthesized, queue_id: str) -> None:
    queue = synthesized.template_json["Resources"][queue_id]["Properties"]
    (policy,) = [
        p["Properties"]["PolicyDocument"]
        for p in synthesized.resources("AWS::SQS::QueuePolicy").values()
        if {"Ref": queue_id} in p["Properties"]["Queues"]
    ]
    assert queue["SqsManagedSseEnabled"] is True
    assert {
        "Action": "sqs:*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Resource": {"Fn::GetAtt": [queue_id, "Arn"]},
    } in policy["Statement"]


def alarm_on(synthesized: Synthesized, metric: str, dimension: dict[str, Any]) -> dict[str, Any]:
    alarms: list[dict[str, Any]] = [
        a["Properties"]
        for a in synthesized.resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == metric and a["Properties"]["Dimensions"] == [dimension]
    ]
    (alarm,) = alarms
    return alarm


SSM = "arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter"


def mapping_of(synthesized: Synthesized, handler: str) -> tuple[str, dict[str, Any]]:
    """The one event source mapping that invokes the function running ``handler``."""
    function = {"Ref": synthesized.function_id(handler)}
    return only(
        {
            logical_id: mapping
            for logical_id, mapping in synthesized.resources("AWS::Lambda::EventSourceMapping").items()
            if mapping["Properties"]["FunctionName"] == function
        }
    )


def schedule_of(synthesized: Synthesized, handler: str) -> tuple[str, dict[str, Any]]:
    """The one EventBridge rule whose target is the function running ``handler``."""
    function = {"Fn::GetAtt": [synthesized.function_id(handler), "Arn"]}
    return only(
        {
            logical_id: rule
            for logical_id, rule in synthesized.resources("AWS::Events::Rule").items()
            if any(target["Arn"] == function for target in rule["Properties"]["Targets"])
        }
    )


def schedule_dead_letter_queue(synthesized: Synthesized, handler: str) -> str:
    """The logical id of the dead-letter queue of the schedule that invokes the function running ``handler``."""
    _, rule = schedule_of(synthesized, handler)
    (target,) = rule["Properties"]["Targets"]
    queue_id: str = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    return queue_id


def failure_destination_grants(queue_id: str) -> dict[str, set[str]]:
    """What an asynchronous invoke config's on-failure queue destination grants the function's role."""
    actions = ("sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl")
    return {action: {f"<{queue_id}.Arn>"} for action in actions}


# The handlers of the functions (the template names each function by its handler).
API_HANDLER = "functions.api.handler.lambda_handler"
AUTHORIZER_HANDLER = "functions.authorizer.handler.lambda_handler"
WORKER = "functions.worker.handler.lambda_handler"
RECONCILER = "functions.reconciler.handler.lambda_handler"
START = "functions.stages.transcribe.start_handler"
CHECK = "functions.stages.transcribe.check_handler"
ANALYZE = "functions.stages.analyze.lambda_handler"
PUBLISH = "functions.stages.publish.lambda_handler"
FAIL = "functions.stages.fail.lambda_handler"
STAGES = (START, CHECK, ANALYZE, PUBLISH, FAIL)
BATCH_STARTER = "functions.batches.starter.lambda_handler"
BATCH_PAGE = "functions.batches.tasks.page_handler"
BATCH_FINISH = "functions.batches.tasks.finish_handler"
BATCH_ANNOUNCE = "functions.batches.tasks.announce_handler"


def stack_ids(synthesized: Synthesized) -> dict[str, str]:
    bucket_id = next(
        logical_id
        for logical_id, bucket in synthesized.resources("AWS::S3::Bucket").items()
        if "LoggingConfiguration" in bucket["Properties"]
    )
    (table_id,) = synthesized.resources("AWS::DynamoDB::GlobalTable")
    (bus_id,) = synthesized.resources("AWS::Events::EventBus")
    state_machine_id, _ = pipeline_machine(synthesized)
    return {"bucket": bucket_id, "table": table_id, "bus": bus_id, "state_machine": state_machine_id}


def machine_of(synthesized: Synthesized, construct: str) -> tuple[str, dict[str, Any]]:
    """The state machine built under ``construct`` (``Pipeline`` or ``RequeueBatches``)."""
    return only(
        {
            logical_id: machine
            for logical_id, machine in synthesized.resources("AWS::StepFunctions::StateMachine").items()
            if logical_id.startswith(construct)
        }
    )


def pipeline_machine(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    return machine_of(synthesized, "Pipeline")


def environment_of(synthesized: Synthesized, handler: str) -> dict[str, Any]:
    function = synthesized.template_json["Resources"][synthesized.function_id(handler)]
    environment: dict[str, Any] = dict(function["Properties"]["Environment"]["Variables"])
    return environment
