"""A small factory for the Python Lambda functions: one code asset, one dependencies layer, one way to log."""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import REPO_ROOT
from infra.layer import LayerTarget, dependencies_layer
from infra.stage import Stage

# The latest Python runtime this CDK version knows (cdk-nag's AwsSolutions-L1 wants it); Graviton is cheaper.
LAMBDA_TARGET = LayerTarget(lambda_.Runtime.PYTHON_3_14, lambda_.Architecture.ARM_64)
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
# The code asset holds only these top-level folders of the repo (dependencies come from the layer).
CODE_FOLDERS = ("functions", "shared")
CODE_EXCLUDES = [
    "*",
    ".*",
    *(f"!{folder}" for folder in CODE_FOLDERS),
    *(f"!{folder}/**" for folder in CODE_FOLDERS),
    "**/__pycache__",
    "**/*.pyc",
]
COMMON_ENVIRONMENT = {"POWERTOOLS_LOG_LEVEL": "INFO"}


def function_code() -> lambda_.Code:
    """The one code asset every function runs from: ``functions/`` and ``shared/`` of the repo root."""
    return lambda_.Code.from_asset(str(REPO_ROOT), exclude=CODE_EXCLUDES, ignore_mode=cdk.IgnoreMode.GLOB)


def log_group_of_stage(scope: Construct, construct_id: str) -> logs.LogGroup:
    """A log group with a generated name (a re-create never collides with a kept one), kept only in production."""
    return logs.LogGroup(scope, construct_id, retention=LOG_RETENTION, removal_policy=Stage.of(scope).removal_policy)


class PythonFunctions(Construct):
    """Makes Python functions that share the code asset and the dependencies layer.

    Each function gets its own role (no managed policies: grants are added by whoever wires it) and its own
    log group with a retention period.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.layer = dependencies_layer(self, "DependenciesLayer", LAMBDA_TARGET)
        self.code = function_code()

    def add(
        self,
        construct_id: str,
        *,
        handler: str,
        description: str,
        environment: Mapping[str, str],
        memory_size: int = 512,
        timeout: cdk.Duration = cdk.Duration.seconds(10),  # noqa: B008 - an immutable value
    ) -> lambda_.Function:
        """A function running ``handler`` (dotted path from the repo root) that may only write its own logs."""
        role = iam.Role(
            self,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Runs the {construct_id} function",
        )
        log_group = log_group_of_stage(self, f"{construct_id}Logs")
        log_group.grant_write(role)
        return lambda_.Function(
            self,
            construct_id,
            description=description,
            runtime=LAMBDA_TARGET.runtime,
            architecture=LAMBDA_TARGET.architecture,
            handler=handler,
            code=self.code,
            layers=[self.layer],
            role=role,
            log_group=log_group,
            environment={**COMMON_ENVIRONMENT, **environment},
            memory_size=memory_size,
            timeout=timeout,
            tracing=lambda_.Tracing.DISABLED,
        )
