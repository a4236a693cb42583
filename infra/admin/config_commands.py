"""``config`` commands of the admin command: show, set, unset and history of the hierarchical configuration.

Changes go through ``shared.config.service`` like the API's, as an operator: any level and any setting, each
change validated, versioned, recorded in the level's history and published to SSM.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from infra.admin.common import UsageError, print_table
from shared import schema
from shared.config.changes import known_setting_paths, leaf_settings
from shared.config.documents import Author
from shared.config.hierarchy import DEFAULTS_SOURCE, ConfigLevel, ConfigSource, merge_levels, set_path, unset_path
from shared.config.model import PLATFORM_DEFAULTS
from shared.config.service import Ancestry
from shared.errors import ConfigError, TenantNotFound

if TYPE_CHECKING:
    from infra.admin.services import Services

# The registry entity that holds the tenant of each config level.
LEVEL_ENTITY = {
    ConfigLevel.PARTNER: schema.Entity.PARTNER,
    ConfigLevel.ORGANIZATION: schema.Entity.ORGANIZATION,
    ConfigLevel.WORKSPACE: schema.Entity.WORKSPACE,
}
HISTORY_LIMIT = 20


def show_config(args: argparse.Namespace, services: Services) -> int:
    if args.workspace is not None:
        return _show_effective_config(args.workspace, services, as_json=args.json)
    level, tenant_id = _config_level(args, services)
    stored = services.config_documents.read(level, tenant_id)
    document = stored.config
    if args.json:
        print(json.dumps(document, indent=2, sort_keys=True))
    else:
        print(f"# {services.config.parameter_name(level, tenant_id)}")
        print(json.dumps(document, indent=2, sort_keys=True) if document else "{}  (nothing set at this level)")
    return 0


def set_config(args: argparse.Namespace, services: Services) -> int:
    level, tenant_id = _config_level(args, services)
    if args.path not in known_setting_paths():
        raise ConfigError(_unknown_path_message(args.path))
    value = args.value if args.string else _parse_value(args.value)
    previous: list[tuple[Any] | None] = []

    def edit(document: dict[str, Any]) -> dict[str, Any]:
        previous[:] = [_get_path(document, args.path)]
        return set_path(document, args.path, value)

    services.config_service.change(level, tenant_id, edit, Author.operator(), customer=False)
    was = f" (was {json.dumps(previous[0][0])})" if previous and previous[0] else ""
    print(f"Set {args.path} = {json.dumps(value)} at {_describe_level(level, tenant_id)}{was}.")
    return 0


def unset_config(args: argparse.Namespace, services: Services) -> int:
    level, tenant_id = _config_level(args, services)
    document = services.config_documents.read(level, tenant_id).config
    # A key that is stored but unknown (written by hand, misspelt) may still be removed: that is how it is fixed.
    if not _get_path(document, args.path):
        if args.path not in known_setting_paths():
            raise ConfigError(_unknown_path_message(args.path))
        print(f"{args.path} is not set at {_describe_level(level, tenant_id)}; nothing changed.")
        return 0
    services.config_service.change(
        level, tenant_id, lambda current: unset_path(current, args.path), Author.operator(), customer=False
    )
    fallback = "the built-in default" if level is ConfigLevel.PLATFORM else "the level above"
    print(f"Unset {args.path} at {_describe_level(level, tenant_id)}; it now comes from {fallback}.")
    return 0


def config_history(args: argparse.Namespace, services: Services) -> int:
    level, tenant_id = _config_level(args, services)
    page = services.config_documents.history(level, tenant_id, args.limit, None)
    if not page.entries:
        print(f"No changes recorded at {_describe_level(level, tenant_id)}.")
        return 0
    rows = []
    for entry in page.entries:
        author = entry.author.scope if entry.author.key_id is None else f"{entry.author.scope} {entry.author.key_id}"
        for change in entry.changes:
            rows.append(
                (str(entry.version), entry.at, author, change.key, json.dumps(change.old), json.dumps(change.new))
            )
    print_table(("VERSION", "AT", "AUTHOR", "SETTING", "OLD", "NEW"), rows)
    return 0


def _show_effective_config(workspace_id: str, services: Services, as_json: bool) -> int:
    workspace = services.tenants.get_workspace(workspace_id)
    if workspace is None:
        raise TenantNotFound(f"No workspace with id {workspace_id!r}.")
    chain = Ancestry(workspace.partner_id, workspace.organization_id, workspace.workspace_id).chain()
    store = services.config
    resolved = merge_levels(
        [
            (
                ConfigSource(level=document.level.value, parameter=store.parameter_name(level, tenant_id)),
                document.config,
            )
            for (level, tenant_id), document in zip(chain, services.config_documents.read_chain(chain), strict=True)
            if document.config or document.version
        ],
        store.paths,
    )
    default = ConfigSource(level=DEFAULTS_SOURCE)
    rows = [
        (path, value, resolved.sources.get(path, default))
        for path, value in leaf_settings(resolved.config.model_dump(mode="json")).items()
    ]
    if as_json:
        body = {
            "workspace": workspace.path.model_dump(),
            "values": {
                path: {"value": value, "level": source.level, "parameter": source.parameter}
                for path, value, source in rows
            },
            "misplaced": resolved.misplaced,
        }
        print(json.dumps(body, indent=2))
        return 0
    print(
        f"Effective config of workspace {workspace.workspace_id} "
        f"(organization {workspace.organization_id}, partner {workspace.partner_id}):"
    )
    print_table(
        ("PATH", "VALUE", "LEVEL", "PARAMETER"),
        [(path, json.dumps(value), source.level, source.parameter or "-") for path, value, source in rows],
    )
    for message in resolved.misplaced:
        print(f"warning: {message} It takes no effect, and the CallRail poller skips this workspace until it is unset.")
    return 0


def _config_level(args: argparse.Namespace, services: Services) -> tuple[ConfigLevel, str | None]:
    """The level and tenant id named by ``--level``/``--id``, refusing a tenant that does not exist."""
    level = ConfigLevel(args.level)
    if level is ConfigLevel.PLATFORM:
        if args.id is not None:
            raise UsageError("--level platform takes no --id.")
        return level, None
    if args.id is None:
        raise UsageError(f"--level {level} needs --id (the {level}'s id).")
    if not services.tenants.exists(LEVEL_ENTITY[level], args.id):
        raise TenantNotFound(f"No {level} with id {args.id!r}.")
    return level, args.id


def _describe_level(level: ConfigLevel, tenant_id: str | None) -> str:
    return str(level) if tenant_id is None else f"{level} {tenant_id}"


def _parse_value(text: str) -> Any:
    """JSON when the text is JSON (``10``, ``true``, ``"x"``, ``null``), otherwise the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _unknown_path_message(path: str) -> str:
    known = ", ".join(sorted(leaf_settings(PLATFORM_DEFAULTS)))
    return f"Unknown config path {path!r}. Known paths: {known}."


def _get_path(document: dict[str, Any], dotted_path: str) -> tuple[Any] | None:
    """``(value,)`` when the document sets ``dotted_path``, else ``None`` (a stored value may itself be null)."""
    node: Any = document
    for part in dotted_path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return (node,)


def add_config_commands(config: argparse.ArgumentParser) -> None:
    config_commands = config.add_subparsers(dest="command", required=True)
    levels = [level.value for level in ConfigLevel]
    command = config_commands.add_parser("show", help="a workspace's effective config, or one level's document")
    shown = command.add_mutually_exclusive_group(required=True)
    shown.add_argument("--workspace", metavar="WORKSPACE_ID", help="effective config, with where each value is set")
    shown.add_argument("--level", choices=levels, help="the raw document stored at one level")
    command.add_argument("--id", help="the tenant id of --level")
    command.add_argument("--json", action="store_true", help="machine-readable output")
    command.set_defaults(handler=show_config)
    command = config_commands.add_parser("set", help="set one value at one level")
    command.add_argument("--level", required=True, choices=levels)
    command.add_argument("--id", help="the tenant id (not for platform)")
    command.add_argument("--string", action="store_true", help="take VALUE as a string even if it parses as JSON")
    command.add_argument("path", metavar="PATH", help="dotted path, e.g. processing.filters.min_duration_seconds")
    command.add_argument("value", metavar="VALUE", help='JSON when it parses (10, true, "x"), else a string')
    command.set_defaults(handler=set_config)
    command = config_commands.add_parser("unset", help="remove one value from one level so it inherits again")
    command.add_argument("--level", required=True, choices=levels)
    command.add_argument("--id", help="the tenant id (not for platform)")
    command.add_argument("path", metavar="PATH")
    command.set_defaults(handler=unset_config)
    command = config_commands.add_parser("history", help="the latest changes at one level, newest first")
    command.add_argument("--level", required=True, choices=levels)
    command.add_argument("--id", help="the tenant id (not for platform)")
    command.add_argument("--limit", type=int, default=HISTORY_LIMIT, help=f"changes to show (default {HISTORY_LIMIT})")
    command.set_defaults(handler=config_history)
