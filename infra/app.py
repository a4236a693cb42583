"""Build the CDK app in-process: ``app.py``, the tests and the local runtime all call ``build_app``."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk

from infra import REPO_ROOT
from infra.account import ApiGatewayAccountStack, wants_account_stack
from infra.checkov import acknowledge_checkov_findings
from infra.nag import enable_nag
from infra.stack import GensailStack
from infra.stage import Stage

CDK_JSON = REPO_ROOT / "cdk.json"
SKIP_BUNDLING: dict[str, Any] = {"aws:cdk:bundling-stacks": []}


def cdk_json_context() -> dict[str, Any]:
    """The context (feature flags) of ``cdk.json``, so an in-process synth matches ``cdk synth``."""
    context: dict[str, Any] = json.loads(CDK_JSON.read_text(encoding="utf-8")).get("context", {})
    return context


def build_app(context: dict[str, Any] | None = None, outdir: str | None = None) -> cdk.App:
    """The Gensail app with cdk-nag enabled; ``context`` overrides ``cdk.json`` (e.g. ``SKIP_BUNDLING``).

    One stage's stack (``-c stage=NAME``, default ``dev``) and, unless ``-c api_gateway_account=false``, the
    account-wide API Gateway logging stack it depends on (``infra.account``).
    """
    app = cdk.App(context={**cdk_json_context(), **(context or {})}, outdir=outdir, analytics_reporting=False)
    stack = GensailStack(app, Stage.from_context(app))
    if wants_account_stack(app):
        account = ApiGatewayAccountStack(app)
        stack.add_stack_dependency(account, "API Gateway needs the account's CloudWatch Logs role for access logging")
    enable_nag(app)
    acknowledge_checkov_findings(app)
    return app
