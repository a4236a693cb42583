"""One synth of the Gensail app per session, with asset bundling skipped (no wheelhouse, no Docker, no AWS)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

# Set before the jsii runtime starts (on the first aws_cdk import): it prints a banner per Node process.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_RELEASE", "1")

import pytest
from aws_cdk.assertions import Template

from infra.account import ACCOUNT_STACK_NAME
from infra.naming import DEFAULT_STACK_NAME

# CDK's own provider behind auto_delete_objects (a non-production stage's buckets are emptied on stack delete).
CDK_PROVIDER_PREFIX = "CustomS3AutoDeleteObjectsCustomResourceProvider"


class Synthesized:
    """The cloud assembly of one synth: the stack template and cdk-nag's validation report."""

    def __init__(self, outdir: Path, stack_name: str = DEFAULT_STACK_NAME) -> None:
        self.outdir = outdir
        self.template_path = outdir / f"{stack_name}.template.json"
        self.account_template_path = outdir / f"{ACCOUNT_STACK_NAME}.template.json"
        self.template_json: dict[str, Any] = json.loads(self.template_path.read_text())
        self.template = Template.from_json(self.template_json)
        self.validation_report: dict[str, Any] = json.loads((outdir / "validation-report.json").read_text())

    def resources(self, resource_type: str, *, own: bool = False) -> dict[str, Any]:
        """The resources of one type; ``own``: without the function and role of CDK's bucket-emptying provider."""
        return {
            logical_id: resource
            for logical_id, resource in self.template_json["Resources"].items()
            if resource["Type"] == resource_type and not (own and logical_id.startswith(CDK_PROVIDER_PREFIX))
        }

    def function_id(self, handler: str) -> str:
        (logical_id,) = [
            logical_id
            for logical_id, resource in self.resources("AWS::Lambda::Function").items()
            if resource["Properties"]["Handler"] == handler
        ]
        return logical_id


@pytest.fixture(scope="session")
def synthesized(synthesized_app: Path) -> Synthesized:
    return Synthesized(synthesized_app)


@pytest.fixture(scope="session")
def template(synthesized: Synthesized) -> Template:
    return synthesized.template
