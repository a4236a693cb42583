"""A small factory for the Python Lambda functions: one code asset, one dependencies layer, one way to log.

Each function's environment is built from its settings model (``shared.settings``), which owns the variable
names; the factory adds only Powertools' own variables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import REPO_ROOT
from infra.data import Data
from infra.layer import LAMBDA_TARGET, dependencies_layer
from infra.stage import Stage
from shared import schema
from shared.settings import FunctionSettings

__all__ = ["CODE_FOLDERS", "LAMBDA_TARGET", "PythonFunctions", "function_code", "log_group_of_stage"]

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
# Powertools' own variables (not settings of ours): the log level of every function, its service and namespace.
POWERTOOLS_LOG_LEVEL = "POWERTOOLS_LOG_LEVEL"
POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
POWERTOOLS_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
COMMON_ENVIRONMENT = {POWERTOOLS_LOG_LEVEL: "INFO"}


def function_code() -> lambda_.Code:
    """The one code asset every function runs from: ``functions/`` and ``shared/`` of the repo root."""
    return lambda_.Code.from_asset(str(REPO_ROOT), exclude=CODE_EXCLUDES, ignore_mode=cdk.IgnoreMode.GLOB)


def log_group_of_stage(scope: Construct, construct_id: str) -> logs.LogGroup:
    """A log group with a generated name (a re-create never collides with a kept one), kept only in production."""
    return logs.LogGroup(scope, construct_id, retention=LOG_RETENTION, removal_policy=Stage.of(scope).removal_policy)


class PythonFunctions(Construct):
    """Makes Python functions that share the code asset and the dependencies layer, and know the table.

    Each function gets its own role (no managed policies: grants are added by whoever wires it) and its own
    log group with a retention period.
    """

    def __init__(self, scope: Construct, construct_id: str, *, data: Data) -> None:
        super().__init__(scope, construct_id)
        self.data = data
        self.layer = dependencies_layer(self, "DependenciesLayer", LAMBDA_TARGET)
        self.code = function_code()

    def add(
        self,
        construct_id: str,
        *,
        handler: str,
        description: str,
        settings: type[FunctionSettings],
        values: Mapping[str, object],
        service: str,
        metrics: bool = True,
        item_actions: Sequence[str] = (),
        index_actions: Sequence[str] = (),
        indexes: Sequence[schema.IndexDefinition] = schema.GLOBAL_INDEXES,
        memory_size: int = 512,
        timeout: cdk.Duration = cdk.Duration.seconds(10),  # noqa: B008 - an immutable value
    ) -> lambda_.Function:
        """A function running ``handler`` (dotted path from the repo root) that may only write its own logs and
        call exactly these actions on the table (``index_actions`` on ``indexes``, every index unless narrowed).

        Its environment is ``settings`` with ``values`` (by field name) and the table's name, the Powertools
        ``service`` name and (with ``metrics``) the stage's metrics namespace.
        """
        role = iam.Role(
            self,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Runs the {construct_id} function",
        )
        log_group = log_group_of_stage(self, f"{construct_id}Logs")
        log_group.grant_write(role)
        powertools = {**COMMON_ENVIRONMENT, POWERTOOLS_SERVICE_NAME: service}
        if metrics:
            powertools[POWERTOOLS_METRICS_NAMESPACE] = Stage.of(self).metrics_namespace
        function = lambda_.Function(
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
            environment={**powertools, **settings.environment(table_name=self.data.table.table_name, **values)},
            memory_size=memory_size,
            timeout=timeout,
            tracing=lambda_.Tracing.DISABLED,
        )
        self.data.grant(function, item_actions=item_actions, index_actions=index_actions, indexes=indexes)
        return function
