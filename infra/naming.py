"""Stage names, their stack names and the stack outputs read back, without the CDK (admin command, local runtime).

``infra.stage`` derives every other name of a stage; this module holds only what processes that never load the
CDK (it starts a Node.js process) need to know.
"""

from __future__ import annotations

import re

SERVICE = "gensail"
# How the product names itself where AWS shows names to people: stacks (``Gensail-dev``), metrics namespaces.
STACK_PREFIX = "Gensail"
STAGE_CONTEXT_KEY = "stage"
DEFAULT_STAGE = "dev"
PRODUCTION_STAGE = "prod"
# The stack outputs that processes without the CDK read from a deployed stage (infra.outputs writes them).
OUTPUT_API_URL = "ApiUrl"
OUTPUT_TABLE_NAME = "TableName"
OUTPUT_CONFIG_PREFIX = "ConfigParameterPrefix"
# Lower case so that it can be part of any AWS name (S3 lower-cases, some names are case-insensitive).
STAGE_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,19}")


def check_stage(name: str) -> str:
    """``name`` if it is a valid stage name, else ``ValueError``."""
    if not STAGE_PATTERN.fullmatch(name):
        raise ValueError(
            f"Stage {name!r}: 1 to 20 characters, lower-case letters, digits and '-', starting with a letter"
        )
    return name


def stack_name(stage: str = DEFAULT_STAGE) -> str:
    """The CloudFormation stack of a stage (``Gensail-dev``): what ``--stack`` of the admin command defaults to."""
    return f"{STACK_PREFIX}-{check_stage(stage)}"


DEFAULT_STACK_NAME = stack_name(DEFAULT_STAGE)


def metrics_namespace(stage: str = DEFAULT_STAGE) -> str:
    """The functions' CloudWatch namespace of a stage: each stage's metrics apart (``Gensail/dev``)."""
    return f"{STACK_PREFIX}/{check_stage(stage)}"
