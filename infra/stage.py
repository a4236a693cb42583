"""The deployment stage (``-c stage=NAME``, default ``dev``): every name that must differ between stages.

One stage is one stack in one account and region; several stages share an account without any physical name in
common. The stack name, the API stage, the SSM paths, the event bus, the alarm topic and the dashboard are all
derived here. A stage marked production (``-c production=true``; the stage named ``prod`` is one by default)
keeps its data when the stack is deleted; any other stage is destroyed with everything in it.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
import jsii
from constructs import Construct, IConstruct

from infra.naming import (
    DEFAULT_STAGE,
    PRODUCTION_STAGE,
    SERVICE,
    STAGE_CONTEXT_KEY,
    check_stage,
    metrics_namespace,
    stack_name,
)
from shared.parameters import ParameterPaths

PRODUCTION_CONTEXT_KEY = "production"
OWNER_CONTEXT_KEY = "owner"
DEFAULT_OWNER = f"{SERVICE}-platform"
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


@dataclass(frozen=True)
class Stage:
    """One stage's name, whether it is production, who owns it, and the names derived from it."""

    name: str
    production: bool = False
    owner: str = DEFAULT_OWNER

    def __post_init__(self) -> None:
        check_stage(self.name)

    @classmethod
    def from_context(cls, scope: Construct) -> Stage:
        """The stage of ``-c stage=NAME`` (default ``dev``), ``-c production=true|false`` and ``-c owner=TEAM``."""
        name = str(scope.node.try_get_context(STAGE_CONTEXT_KEY) or DEFAULT_STAGE)
        return cls(
            name=name,
            production=context_flag(
                scope.node.try_get_context(PRODUCTION_CONTEXT_KEY),
                default=name == PRODUCTION_STAGE,
                key=PRODUCTION_CONTEXT_KEY,
            ),
            owner=str(scope.node.try_get_context(OWNER_CONTEXT_KEY) or DEFAULT_OWNER),
        )

    @property
    def stack_name(self) -> str:
        return stack_name(self.name)

    @property
    def api_stage_name(self) -> str:
        return self.name

    @property
    def parameters(self) -> ParameterPaths:
        """``/gensail/{stage}/config`` and ``/gensail/{stage}/secrets`` (and the secrets' folders)."""
        return ParameterPaths.for_stage(self.name)

    @property
    def metrics_namespace(self) -> str:
        """The functions' CloudWatch namespace: each stage's metrics apart (``Gensail/dev``)."""
        return metrics_namespace(self.name)

    @property
    def event_bus_name(self) -> str:
        return f"{SERVICE}-{self.name}-jobs"

    @property
    def alarm_topic_name(self) -> str:
        return f"{SERVICE}-{self.name}-alarms"

    @property
    def dashboard_name(self) -> str:
        return f"{SERVICE}-{self.name}-operations"

    def physical_name(self, what: str) -> str:
        """A name for anything else that needs one (``gensail-{stage}-{what}``)."""
        return f"{SERVICE}-{self.name}-{what}"

    @property
    def removal_policy(self) -> cdk.RemovalPolicy:
        """What a stack delete does with data: production keeps it, any other stage removes it."""
        return cdk.RemovalPolicy.RETAIN if self.production else cdk.RemovalPolicy.DESTROY

    @property
    def tags(self) -> dict[str, str]:
        """Tagged on every resource of the stack that takes tags."""
        return {"service": SERVICE, "stage": self.name, "owner": self.owner}

    def tag(self, stack: cdk.Stack) -> None:
        """Tag every resource of ``stack`` that takes tags, CDK's own raw providers included (see below)."""
        for key, value in self.tags.items():
            cdk.Tags.of(stack).add(key, value)
        cdk.Aspects.of(stack).add(_TagRawResources(self.tags))

    @staticmethod
    def of(scope: Construct) -> Stage:
        """The stage of the stack ``scope`` belongs to."""
        stage = getattr(cdk.Stack.of(scope), "stage", None)
        if not isinstance(stage, Stage):
            raise TypeError(f"{scope.node.path} is not inside a stage's stack")
        return stage


def context_flag(value: object, *, default: bool, key: str) -> bool:
    """A true/false context value (``-c KEY=true``; the CLI passes strings), ``default`` when it is not set."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"Context {key} must be true or false, got {value!r}")


# CDK builds some providers (the bucket-emptying function and its role) as raw CfnResources, which Tags.of skips.
_RAW_TAGGABLE_TYPES = frozenset({"AWS::Lambda::Function", "AWS::IAM::Role"})


@jsii.implements(cdk.IAspect)
class _TagRawResources:
    def __init__(self, tags: dict[str, str]) -> None:
        self._tags = [{"Key": key, "Value": value} for key, value in sorted(tags.items())]

    def visit(self, node: IConstruct) -> None:
        if (
            isinstance(node, cdk.CfnResource)
            and node.cfn_resource_type in _RAW_TAGGABLE_TYPES
            and not cdk.TagManager.is_taggable(node)
        ):
            node.add_property_override("Tags", self._tags)
