"""An optional web ACL in front of the API stage (``-c waf=true``): AWS managed rules and a per-key rate limit.

The stage's throttling (``infra.api``) is one budget for every caller; the rate-based rule counts requests per
``Authorization`` header, so no single API key can exhaust it. Requests over the limit get 403 from WAF for the
rest of the window. Off by default: WAF is billed per web ACL, rule and request.
"""

from __future__ import annotations

from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra.api import AUTHORIZATION_HEADER
from infra.nag import acknowledge
from infra.stage import Stage, context_flag

WAF_CONTEXT_KEY = "waf"
RATE_LIMIT_CONTEXT_KEY = "waf_requests_per_key_per_minute"
DEFAULT_RATE_LIMIT = 1200  # per key and minute: 20 requests per second, under the stage's 50
RATE_WINDOW_SECONDS = 60
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
)
PER_KEY_RULE = "RequestsPerApiKey"


def wants_waf(scope: Construct) -> bool:
    return context_flag(scope.node.try_get_context(WAF_CONTEXT_KEY), default=False, key=WAF_CONTEXT_KEY)


def add_firewall(scope: Construct, construct_id: str, *, stage: apigw.Stage) -> ApiFirewall | None:
    """The web ACL in front of ``stage`` if the context asks for one (``-c waf=true``), else ``None``."""
    if wants_waf(scope):
        return ApiFirewall(scope, construct_id, stage=stage)
    acknowledge(
        stage,
        "APIG3",
        "No web ACL in this stage (deploy with -c waf=true for AWS managed rules and a per-key rate limit): "
        "every route except the OpenAPI document needs an API key, and the stage throttles every method.",
    )
    return None


def _rate_limit(scope: Construct) -> int:
    value = scope.node.try_get_context(RATE_LIMIT_CONTEXT_KEY)
    limit = DEFAULT_RATE_LIMIT if value is None else int(value)
    if limit < 10:  # WAF's minimum
        raise ValueError(f"Context {RATE_LIMIT_CONTEXT_KEY} must be at least 10, got {value!r}")
    return limit


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
    )


class ApiFirewall(Construct):
    """A regional web ACL associated with the API's stage."""

    def __init__(self, scope: Construct, construct_id: str, *, stage: apigw.Stage) -> None:
        super().__init__(scope, construct_id)
        name = Stage.of(self).physical_name("api")
        self.rate_limit = _rate_limit(self)
        rules = [
            wafv2.CfnWebACL.RuleProperty(
                name=group,
                priority=priority,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS", name=group
                    )
                ),
                visibility_config=_visibility(group),
            )
            for priority, group in enumerate(MANAGED_RULE_GROUPS)
        ]
        rules.append(
            wafv2.CfnWebACL.RuleProperty(
                name=PER_KEY_RULE,
                priority=len(rules),
                action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                        limit=self.rate_limit,
                        evaluation_window_sec=RATE_WINDOW_SECONDS,
                        aggregate_key_type="CUSTOM_KEYS",
                        custom_keys=[
                            wafv2.CfnWebACL.RateBasedStatementCustomKeyProperty(
                                header=wafv2.CfnWebACL.RateLimitHeaderProperty(
                                    name=AUTHORIZATION_HEADER,
                                    text_transformations=[
                                        wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")
                                    ],
                                )
                            )
                        ],
                    )
                ),
                visibility_config=_visibility(PER_KEY_RULE),
            )
        )
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=name,
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            rules=rules,
            visibility_config=_visibility(name),
        )
        self.association = wafv2.CfnWebACLAssociation(
            self, "Association", resource_arn=stage.stage_arn, web_acl_arn=self.web_acl.attr_arn
        )
