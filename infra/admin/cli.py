"""The operators' admin command: tenants, API keys, configuration and demo data of a deployed stack or the local
runtime.

Operators run it with their own AWS credentials; it calls the same repositories the Lambda functions use, so
every rule (tenant ancestry, hashed keys, validated config documents) is the product's, not a second copy.

    python -m infra.admin [--local | --stage NAME | --stack NAME | --table-name T --config-prefix P] <group> <cmd> ...

Exit status: 0 on success, 2 for a refused request (usage, unknown tenant, invalid config...), 1 when AWS fails.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ValidationError

from infra.admin.common import UsageError, print_table
from infra.admin.config_commands import add_config_commands
from infra.admin.demo import add_demo_commands
from infra.admin.services import AdminTarget, Services
from infra.naming import (
    DEFAULT_STACK_NAME,
    DEFAULT_STAGE,
    OUTPUT_CONFIG_PREFIX,
    OUTPUT_TABLE_NAME,
    PRODUCTION_STAGE,
    stack_name,
)
from shared import schema
from shared.access import ScopeKind
from shared.auth.keys import AUTHORIZER_CACHE_SECONDS
from shared.aws import client, reset_clients
from shared.errors import DomainError
from shared.tenants.registry import Organization, Partner, Workspace

# A deployed stage's stack: ``--stage NAME`` (or $STAGE), default dev (infra.naming).
STAGE_VARIABLE = "STAGE"
# Where the local runtime (``python -m infra.local``) writes its state by default: relative to the working directory.
DEFAULT_LOCAL_STATE = Path(".local/demo.json")
LOCAL_REGION = "us-east-1"

# The registry entity that holds the tenant of each config level and key scope.
_SCOPE_ENTITY = {
    ScopeKind.PARTNER: schema.Entity.PARTNER,
    ScopeKind.ORGANIZATION: schema.Entity.ORGANIZATION,
    ScopeKind.WORKSPACE: schema.Entity.WORKSPACE,
}


class TargetError(DomainError):
    """The stack or local runtime to administer cannot be found."""

    code = "target_unresolved"


class _LocalRuntimeState(BaseModel):
    """The part of the local runtime's ``demo.json`` this command reads."""

    aws_endpoint_url: str
    table_name: str
    config_prefix: str
    region: str | None = None


# --- target selection -----------------------------------------------------------------------------------------


def resolve_target(args: argparse.Namespace) -> AdminTarget:
    """The target chosen by the global options: explicit names, the local runtime, or a CloudFormation stack."""
    explicit = args.table_name is not None or args.config_prefix is not None
    if explicit:
        if args.local or args.stack is not None or args.stage is not None:
            raise UsageError("--table-name/--config-prefix cannot be combined with --local, --stage or --stack.")
        if args.table_name is None or args.config_prefix is None:
            raise UsageError("--table-name and --config-prefix must be given together.")
        return AdminTarget(table_name=args.table_name, config_prefix=args.config_prefix)
    if args.local:
        return local_target(Path(args.local_state))
    if args.stack is not None:
        name = args.stack
    else:
        try:
            name = stack_name(args.stage or os.environ.get(STAGE_VARIABLE) or DEFAULT_STAGE)
        except ValueError as error:
            raise UsageError(str(error)) from None
    return stack_target(name).model_copy(update={"production": name == stack_name(PRODUCTION_STAGE)})


def local_target(state_file: Path) -> AdminTarget:
    """The local runtime described by the ``demo.json`` it writes when it starts."""
    try:
        state = _LocalRuntimeState.model_validate_json(state_file.read_text())
    except FileNotFoundError:
        raise TargetError(f"No local runtime state at {state_file}: start the local runtime first.") from None
    except ValidationError as error:
        raise TargetError(f"Unreadable local runtime state in {state_file}: {error.errors()[0]['msg']}.") from None
    return AdminTarget(
        table_name=state.table_name,
        config_prefix=state.config_prefix,
        endpoint_url=state.aws_endpoint_url,
        region=state.region or LOCAL_REGION,
    )


def stack_target(stack_name: str, cloudformation: Any = None) -> AdminTarget:
    """The table and config prefix a deployed stack exports as outputs."""
    cloudformation = cloudformation or client("cloudformation")
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if error.response["Error"]["Code"] == "ValidationError":
            region = cloudformation.meta.region_name
            raise TargetError(f"No stack {stack_name!r} in region {region} of this account.") from None
        raise
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}
    missing = [name for name in (OUTPUT_TABLE_NAME, OUTPUT_CONFIG_PREFIX) if name not in outputs]
    if missing:
        raise TargetError(
            f"Stack {stack_name!r} has no output {', '.join(missing)}; "
            "deploy the current version or pass --table-name and --config-prefix."
        )
    return AdminTarget(table_name=outputs[OUTPUT_TABLE_NAME], config_prefix=outputs[OUTPUT_CONFIG_PREFIX])


def use_target(target: AdminTarget) -> None:
    """Point this process's AWS clients at the target (boto3 reads ``AWS_ENDPOINT_URL`` for every client)."""
    if target.endpoint_url:
        # The local emulator accepts any credentials; real ones must never be sent to it.
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            os.environ.pop(name, None)
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": target.endpoint_url,
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_DEFAULT_REGION": target.region or LOCAL_REGION,
                "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
            }
        )
        # Clients made before the switch (the stack lookup's) would still talk to AWS.
        reset_clients()


# --- tenants --------------------------------------------------------------------------------------------------


def create_partner(args: argparse.Namespace, services: Services) -> int:
    partner = services.tenants.create_partner(args.name, partner_id=args.id)
    print(f"Created partner {partner.partner_id} ({partner.name}).")
    return 0


def create_organization(args: argparse.Namespace, services: Services) -> int:
    organization = services.tenants.create_organization(args.partner, args.name, organization_id=args.id)
    print(
        f"Created organization {organization.organization_id} ({organization.name}) "
        f"in partner {organization.partner_id}."
    )
    return 0


def create_workspace(args: argparse.Namespace, services: Services) -> int:
    workspace = services.tenants.create_workspace(args.organization, args.name, workspace_id=args.id)
    print(
        f"Created workspace {workspace.workspace_id} ({workspace.name}) "
        f"in organization {workspace.organization_id}, partner {workspace.partner_id}."
    )
    return 0


def list_tenants(args: argparse.Namespace, services: Services) -> int:
    registry = services.tenants
    partners = [tenant for tenant in registry.list(schema.Entity.PARTNER) if isinstance(tenant, Partner)]
    organizations = [t for t in registry.list(schema.Entity.ORGANIZATION) if isinstance(t, Organization)]
    workspaces = [t for t in registry.list(schema.Entity.WORKSPACE) if isinstance(t, Workspace)]
    if not partners:
        print("No partners yet.")
        return 0
    for partner in partners:
        print(f"{partner.partner_id}  {partner.name}")
        for organization in (o for o in organizations if o.partner_id == partner.partner_id):
            print(f"  {organization.organization_id}  {organization.name}")
            for workspace in (w for w in workspaces if w.organization_id == organization.organization_id):
                print(f"    {workspace.workspace_id}  {workspace.name}")
    return 0


# --- API keys -------------------------------------------------------------------------------------------------


def create_key(args: argparse.Namespace, services: Services) -> int:
    scope = ScopeKind(args.scope)
    exists = services.tenants.exists(_SCOPE_ENTITY[scope], args.scope_id)
    key, record = services.keys.create(scope, args.scope_id, args.name, tenant_exists=exists)
    print(f"key_id:  {record.key_id}")
    print(f"scope:   {record.scope} {record.scope_id}")
    print(f"api_key: {key}")
    print("warning: the API key is shown only this once and cannot be retrieved again; store it now.", file=sys.stderr)
    return 0


def revoke_key(args: argparse.Namespace, services: Services) -> int:
    record = services.keys.revoke(args.key_id)
    print(f"Revoked {record.key_id} ({record.scope} {record.scope_id}) at {record.revoked_at}.")
    print(
        f"Requests may still be accepted for up to {AUTHORIZER_CACHE_SECONDS} s while API Gateway's authorizer "
        "cache holds the key."
    )
    return 0


def list_keys(args: argparse.Namespace, services: Services) -> int:
    records = sorted(services.keys.list(), key=lambda record: record.created_at)
    if not records:
        print("No API keys yet.")
        return 0
    print_table(
        ("KEY ID", "SCOPE", "SCOPE ID", "NAME", "CREATED", "REVOKED"),
        [(r.key_id, r.scope.value, r.scope_id, r.name or "-", r.created_at, r.revoked_at or "-") for r in records],
    )
    return 0


# --- command line ---------------------------------------------------------------------------------------------

Handler = Callable[[argparse.Namespace, Services], int]

_EXAMPLES = """\
examples:
  python -m infra.admin --local tenants create-partner --name "Acme Agency" --id ptn_acme
  python -m infra.admin tenants create-workspace --organization org_acme --name "Main line"
  python -m infra.admin --stage prod keys create --scope workspace --scope-id ws_main --name reporting
  python -m infra.admin keys revoke key_0123456789ab
  python -m infra.admin config set --level workspace --id ws_main processing.filters.min_duration_seconds 10
  python -m infra.admin config show --workspace ws_main
  python -m infra.admin --stage dev demo seed > demo-keys.json

AWS credentials and region come from the usual environment (AWS_PROFILE, AWS_REGION, ...).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m infra.admin",
        description="Administer Gensail tenants, API keys and configuration (operators only).",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = parser.add_argument_group(
        f"target (default: the deployed stage ${STAGE_VARIABLE}, else {DEFAULT_STAGE}: stack {DEFAULT_STACK_NAME})"
    )
    choice = where.add_mutually_exclusive_group()
    choice.add_argument("--local", action="store_true", help="the local runtime (reads its demo.json)")
    choice.add_argument("--stage", metavar="NAME", help="a deployed stage: its stack Gensail-NAME")
    choice.add_argument("--stack", metavar="NAME", help="a deployed CloudFormation stack by name")
    where.add_argument(
        "--local-state",
        metavar="FILE",
        default=str(DEFAULT_LOCAL_STATE),
        help=f"the local runtime's state file (default {DEFAULT_LOCAL_STATE})",
    )
    where.add_argument("--table-name", metavar="NAME", help="the DynamoDB table (with --config-prefix)")
    where.add_argument("--config-prefix", metavar="PREFIX", help="the SSM parameter prefix of config documents")
    groups = parser.add_subparsers(dest="group", required=True, metavar="{tenants,keys,config,demo}")
    _add_tenant_commands(groups.add_parser("tenants", help="partners, organizations and workspaces"))
    _add_key_commands(groups.add_parser("keys", help="API keys"))
    add_config_commands(groups.add_parser("config", help="hierarchical configuration"))
    add_demo_commands(groups.add_parser("demo", help="demo data for a dev stack or the local runtime"))
    return parser


def _add_tenant_commands(tenants: argparse.ArgumentParser) -> None:
    tenant_commands = tenants.add_subparsers(dest="command", required=True)
    command = tenant_commands.add_parser("create-partner", help="create a partner")
    command.add_argument("--name", required=True)
    command.add_argument("--id", help="the partner id (default: generated)")
    command.set_defaults(handler=create_partner)
    command = tenant_commands.add_parser("create-organization", help="create an organization in a partner")
    command.add_argument("--partner", required=True, metavar="PARTNER_ID")
    command.add_argument("--name", required=True)
    command.add_argument("--id", help="the organization id (default: generated)")
    command.set_defaults(handler=create_organization)
    command = tenant_commands.add_parser("create-workspace", help="create a workspace in an organization")
    command.add_argument("--organization", required=True, metavar="ORGANIZATION_ID")
    command.add_argument("--name", required=True)
    command.add_argument("--id", help="the workspace id (default: generated)")
    command.set_defaults(handler=create_workspace)
    command = tenant_commands.add_parser("list", help="every tenant, as a tree")
    command.set_defaults(handler=list_tenants)


def _add_key_commands(keys: argparse.ArgumentParser) -> None:
    key_commands = keys.add_subparsers(dest="command", required=True)
    command = key_commands.add_parser("create", help="create a key for a tenant (the key is printed once)")
    command.add_argument("--scope", required=True, choices=[scope.value for scope in ScopeKind])
    command.add_argument("--scope-id", required=True, metavar="TENANT_ID")
    command.add_argument("--name", default="", help="what the key is for")
    command.set_defaults(handler=create_key)
    command = key_commands.add_parser("revoke", help="revoke a key by its key id")
    command.add_argument("key_id", metavar="KEY_ID")
    command.set_defaults(handler=revoke_key)
    command = key_commands.add_parser("list", help="every key: id, scope, created, revoked (never the key)")
    command.set_defaults(handler=list_keys)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one admin command; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # usage errors (2) and --help (0)
        return exit_.code if isinstance(exit_.code, int) else 2
    handler: Handler = args.handler
    try:
        target = resolve_target(args)
        use_target(target)
        return handler(args, Services(target))
    except DomainError as error:
        print(f"error: {error.detail}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as error:
        print(f"error: AWS request failed: {error}", file=sys.stderr)
        return 1


def run() -> int:
    """``main`` for a shell: a reader that stops early (``| head``) ends the command quietly, as Unix tools do."""
    try:
        return main()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit flush does not fail again
        return 1


if __name__ == "__main__":
    sys.exit(run())
