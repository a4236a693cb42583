"""Changes to one level's config document: JSON Merge Patch (RFC 7396), the keys that changed, who may change them.

Customers (API keys) may change only ``CUSTOMER_WRITABLE`` settings; every other setting (providers, limits,
secret parameters, the CallRail account) is changed by operators through the admin command.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from shared.config.model import PLATFORM_DEFAULTS
from shared.errors import SettingNotWritable

# A dotted path ending in ``.*`` covers every setting of that section.
CUSTOMER_WRITABLE = (
    "processing.filters.*",
    "processing.analysis.keywords",
    "processing.webhooks.urls",
    "integrations.callrail.skip_all_on_ingest",
)


class ConfigChange(BaseModel):
    """One setting changed by a write; ``null`` as ``old`` or ``new`` means not set at that level (inherited)."""

    key: str = Field(description="Dotted path of the setting.", examples=["processing.filters.min_duration_seconds"])
    old: Any = Field(default=None, description="The value stored at this level before (absent: inherited).")
    new: Any = Field(default=None, description="The value stored at this level after (absent: inherited again).")


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: ``patch`` applied to ``target`` (a new value; neither argument is changed).

    An object patch merges key by key and ``null`` removes a key; any other patch replaces the target.
    """
    if not isinstance(patch, dict):
        return _copy(patch)
    result: dict[str, Any] = _copy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return _prune_empty(result)


def _prune_empty(document: dict[str, Any]) -> dict[str, Any]:
    """Sections left empty by removals are dropped, so that a removed setting leaves no trace behind."""
    for key in [key for key, value in document.items() if isinstance(value, dict)]:
        document[key] = _prune_empty(document[key])
        if not document[key]:
            del document[key]
    return document


def leaf_settings(document: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Every value of a document by dotted path; lists and empty objects are values."""
    leaves: dict[str, Any] = {}
    for key, value in document.items():
        if isinstance(value, dict) and value:
            leaves.update(leaf_settings(value, f"{prefix}{key}."))
        else:
            leaves[f"{prefix}{key}"] = value
    return leaves


def changed_settings(before: dict[str, Any], after: dict[str, Any]) -> list[ConfigChange]:
    """The settings whose stored value differs between two documents of one level, by path."""
    old, new = leaf_settings(before), leaf_settings(after)
    return [
        ConfigChange(key=key, old=old.get(key), new=new.get(key))
        for key in sorted(old.keys() | new.keys())
        if key not in old or key not in new or old[key] != new[key]
    ]


def is_customer_writable(key: str) -> bool:
    for allowed in CUSTOMER_WRITABLE:
        if allowed.endswith(".*"):
            section = allowed[:-2]
            if key == section or key.startswith(f"{section}."):
                return True
        elif key == allowed:
            return True
    return False


def require_customer_writable(changes: list[ConfigChange]) -> None:
    """Refuse a customer's change that touches an operator-only setting, naming the first one."""
    for change in changes:
        if not is_customer_writable(change.key):
            raise SettingNotWritable(
                f"The setting {change.key} can only be changed by an operator. "
                f"API keys may change {', '.join(CUSTOMER_WRITABLE)}."
            )


def known_setting_paths() -> set[str]:
    """Every dotted path of the config model: its values and the sections that hold them."""
    paths: set[str] = set()
    for leaf in leaf_settings(PLATFORM_DEFAULTS):
        parts = leaf.split(".")
        paths.update(".".join(parts[: depth + 1]) for depth in range(len(parts)))
    return paths


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))
