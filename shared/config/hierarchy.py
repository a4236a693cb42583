"""Resolve a workspace's effective configuration from the four levels stored in SSM Parameter Store.

Documents are fetched in one batched ``GetParameters`` call and cached for ``max_age`` seconds, absent levels
included: a workspace without a document of its own still costs one round trip per window. (Powertools' SSM
provider cannot refetch one cached name on demand, which read-your-writes needs; see ``ConfigStore``.)
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ValidationError

from shared.access import TenantPath
from shared.config.model import PLATFORM_DEFAULTS, EffectiveConfig, validation_context
from shared.errors import ConfigError
from shared.parameters import ParameterPaths


class ConfigLevel(StrEnum):
    PLATFORM = "platform"
    PARTNER = "partner"
    ORGANIZATION = "organization"
    WORKSPACE = "workspace"


DEFAULTS_SOURCE = "platform-default"
# Limits of a whole partner: only the platform's and the partner's documents may set them, since an organization
# or a workspace raising its partner's cap would raise it for every workspace of the partner.
PARTNER_WIDE_SETTINGS = ("integrations.callrail.max_total_calls", "requeue.max_jobs_per_second")
_BELOW_PARTNER = frozenset({ConfigLevel.ORGANIZATION.value, ConfigLevel.WORKSPACE.value})
# SSM's Standard tier holds up to 4 KB per parameter; GetParameters takes up to 10 names.
MAX_DOCUMENT_BYTES = 4096
_GET_PARAMETERS_MAX = 10
_LEVEL_FOLDER = {
    ConfigLevel.PARTNER: "partners",
    ConfigLevel.ORGANIZATION: "organizations",
    ConfigLevel.WORKSPACE: "workspaces",
}


class ConfigSource(BaseModel):
    """Where an effective value came from: the level, and the parameter that set it (none for code defaults)."""

    level: str
    parameter: str | None = None


class ResolvedConfig(BaseModel):
    """A workspace's effective config and, for each value (dotted path), the level that set it."""

    config: EffectiveConfig
    sources: dict[str, ConfigSource]
    # Partner-wide settings found in an organization's or a workspace's document, which take no effect there:
    # one message per value, naming the parameter. Writing such a document is refused; the CallRail poller
    # refuses to ingest for a workspace that still has one, while processing (which never reads them) goes on.
    misplaced: list[str] = []

    def raise_if_misplaced(self) -> None:
        if self.misplaced:
            raise ConfigError(self.misplaced[0])


def merge_levels(
    documents: list[tuple[ConfigSource, dict[str, Any]]], paths: ParameterPaths | None = None
) -> ResolvedConfig:
    """Merge documents over the platform defaults, later ones winning, and validate the result.

    With ``paths`` (a stage's parameter paths) secret names must lie in that stage's secrets folders.

    A validation failure names the parameter that set the offending value. A partner-wide setting
    (``PARTNER_WIDE_SETTINGS``) in an organization's or a workspace's document is left out of the merge and
    reported in ``misplaced``.
    """
    merged = _copy(PLATFORM_DEFAULTS)
    sources: dict[str, ConfigSource] = {path: ConfigSource(level=DEFAULTS_SOURCE) for path in leaf_values(merged)}
    misplaced: list[str] = []
    for source, document in documents:
        _merge_into(merged, _without_misplaced(source, document, misplaced), source, sources, prefix="")
    try:
        config = EffectiveConfig.model_validate(merged, context=validation_context(paths))
    except ValidationError as error:
        problem = error.errors()[0]
        path = ".".join(str(part) for part in problem["loc"])
        culprit = _source_of(path, sources)
        where = f"parameter {culprit.parameter}" if culprit.parameter else culprit.level
        raise ConfigError(f"Invalid config in {where}: {path}: {problem['msg']}") from None
    return ResolvedConfig(config=config, sources=sources, misplaced=misplaced)


def first_invalid_setting(level: ConfigLevel, document: dict[str, Any]) -> tuple[str, str] | None:
    """``(dotted key, message)`` of the first value that makes ``document`` invalid at ``level``, else ``None``."""
    merged = _copy(PLATFORM_DEFAULTS)
    _merge_into(merged, document, ConfigSource(level=level.value), {}, prefix="")
    try:
        EffectiveConfig.model_validate(merged)
    except ValidationError as error:
        problem = error.errors()[0]
        return ".".join(str(part) for part in problem["loc"]), str(problem["msg"])
    if level.value in _BELOW_PARTNER:
        leaves = leaf_values(document)
        for path in PARTNER_WIDE_SETTINGS:
            if path in leaves:
                return path, f"a partner-wide limit, which cannot be set at {level} level"
    return None


def _without_misplaced(source: ConfigSource, document: dict[str, Any], misplaced: list[str]) -> dict[str, Any]:
    """``document`` without the partner-wide settings it may not hold at ``source``'s level (noted in ``misplaced``)."""
    if source.level not in _BELOW_PARTNER:
        return document
    leaves = leaf_values(document)
    found = [path for path in PARTNER_WIDE_SETTINGS if path in leaves]
    where = f"parameter {source.parameter}" if source.parameter else source.level
    for path in found:
        misplaced.append(
            f"Invalid config in {where}: {path} is a partner-wide limit and cannot be set at {source.level} "
            "level; set it in the partner's (or the platform's) document."
        )
    kept = document
    for path in found:
        kept = unset_path(kept, path)
    return kept


def leaf_values(document: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Every value of a nested document by its dotted path (``processing.filters.min_duration_seconds``)."""
    leaves: dict[str, Any] = {}
    for key, value in document.items():
        if isinstance(value, dict):
            leaves.update(leaf_values(value, f"{prefix}{key}."))
        else:
            leaves[f"{prefix}{key}"] = value
    return leaves


def _merge_into(
    target: dict[str, Any],
    document: dict[str, Any],
    source: ConfigSource,
    sources: dict[str, ConfigSource],
    prefix: str,
) -> None:
    for key, value in document.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge_into(target[key], value, source, sources, prefix=f"{path}.")
        else:
            target[key] = value
            for leaf in leaf_values(value, f"{path}.") if isinstance(value, dict) else [path]:
                sources[leaf] = source


def _source_of(path: str, sources: dict[str, ConfigSource]) -> ConfigSource:
    # The value at fault may be a whole section; take the nearest path that a level set.
    while path:
        if path in sources:
            return sources[path]
        matches = [source for leaf, source in sources.items() if leaf.startswith(f"{path}.")]
        if matches:
            return matches[-1]
        path = path.rpartition(".")[0]
    return ConfigSource(level=DEFAULTS_SOURCE)


def set_path(document: dict[str, Any], dotted_path: str, value: Any) -> dict[str, Any]:
    """A copy of ``document`` with ``dotted_path`` set to ``value`` (sections are created as needed)."""
    updated = _copy(document)
    node = updated
    *parents, leaf = dotted_path.split(".")
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{part!r} in {dotted_path!r} is a value, not a section.")
        node = child
    node[leaf] = value
    return updated


def unset_path(document: dict[str, Any], dotted_path: str) -> dict[str, Any]:
    """A copy of ``document`` without ``dotted_path`` (empty sections are dropped), so the value inherits again."""
    updated = _copy(document)
    *parents, leaf = dotted_path.split(".")
    trail = [updated]
    for part in parents:
        child = trail[-1].get(part)
        if not isinstance(child, dict):
            return updated
        trail.append(child)
    trail[-1].pop(leaf, None)
    for depth in range(len(parents), 0, -1):
        if not trail[depth]:
            del trail[depth - 1][parents[depth - 1]]
    return updated


# Reads the head documents of config levels (``shared.config.heads.ConfigHeads.documents``).
HeadReader = Callable[[list[tuple["ConfigLevel", str | None]]], dict[tuple["ConfigLevel", str | None], dict[str, Any]]]


@dataclass(frozen=True)
class _Cached:
    expires: float  # monotonic clock
    filled_at: float  # wall clock (epoch seconds) when the read that filled it was sent
    raw: str | None  # None: no such parameter


class ConfigStore:
    """The configuration documents under one parameter prefix, cached for ``max_age_seconds``.

    ``resolve(path, fresh_since=...)`` refreshes the documents whose cached copy was read before ``fresh_since``
    (from the versioned heads in the table when ``heads`` is given, else from SSM): the worker passes a requeued
    job's ``last_requeued_at``, so a job requeued after a config change is checked against that change
    (read-your-writes) while every other job is served from the cache.
    """

    def __init__(self, prefix: str, ssm: Any, max_age_seconds: int = 60, heads: HeadReader | None = None) -> None:
        """``heads``: reads the versioned head documents (``shared.config.heads``); when given, documents older
        than ``fresh_since`` are refreshed from the heads instead of SSM (no SSM call for read-your-writes)."""
        self.prefix = prefix.rstrip("/")
        # The stage's secrets paths, next to its config: a document may only name secrets of its own stage.
        self.paths = ParameterPaths.of_config_prefix(self.prefix)
        self.max_age_seconds = max_age_seconds
        self.ssm = ssm
        self._heads = heads
        self._cache: dict[str, _Cached] = {}
        self._levels: dict[str, tuple[ConfigLevel, str | None]] = {}

    def parameter_name(self, level: ConfigLevel, tenant_id: str | None = None) -> str:
        if level is ConfigLevel.PLATFORM:
            name = f"{self.prefix}/platform"
            self._levels[name] = (level, None)
            return name
        if not tenant_id:
            raise ValueError(f"a {level} document needs the {level}'s id")
        name = f"{self.prefix}/{_LEVEL_FOLDER[level]}/{tenant_id}"
        self._levels[name] = (level, tenant_id)
        return name

    def chain(self, path: TenantPath) -> list[tuple[ConfigLevel, str]]:
        """The parameters that apply to a workspace, from the platform down."""
        return [
            (ConfigLevel.PLATFORM, self.parameter_name(ConfigLevel.PLATFORM)),
            (ConfigLevel.PARTNER, self.parameter_name(ConfigLevel.PARTNER, path.partner_id)),
            (ConfigLevel.ORGANIZATION, self.parameter_name(ConfigLevel.ORGANIZATION, path.organization_id)),
            (ConfigLevel.WORKSPACE, self.parameter_name(ConfigLevel.WORKSPACE, path.workspace_id)),
        ]

    def resolve(self, path: TenantPath, fresh_since: float | None = None) -> ResolvedConfig:
        """The effective config of one workspace, from documents read no earlier than ``fresh_since`` (epoch s)."""
        return self.resolve_many([path], fresh_since)[path.workspace_id]

    def resolve_many(self, paths: Iterable[TenantPath], fresh_since: float | None = None) -> dict[str, ResolvedConfig]:
        """Effective configs of many workspaces, fetching every document they need in batched calls."""
        paths = list(paths)
        chains = {path.workspace_id: self.chain(path) for path in paths}
        documents = self._fetch({name for chain in chains.values() for _, name in chain}, fresh_since)
        return {
            workspace_id: merge_levels(
                [
                    (ConfigSource(level=level.value, parameter=name), documents[name])
                    for level, name in chain
                    if name in documents
                ],
                self.paths,
            )
            for workspace_id, chain in chains.items()
        }

    def documents(
        self, levels: Iterable[tuple[ConfigLevel, str | None]]
    ) -> dict[tuple[ConfigLevel, str | None], dict[str, Any]]:
        """The stored documents of several levels (cached like ``resolve``); a level without one is left out."""
        names = {(level, tenant_id): self.parameter_name(level, tenant_id) for level, tenant_id in levels}
        fetched = self._fetch(set(names.values()), None)
        return {level: fetched[name] for level, name in names.items() if name in fetched}

    def read_document(self, level: ConfigLevel, tenant_id: str | None = None) -> dict[str, Any]:
        """The document stored at one level, uncached (``{}`` when there is none)."""
        name = self.parameter_name(level, tenant_id)
        ssm = self.ssm
        try:
            raw = ssm.get_parameter(Name=name)["Parameter"]["Value"]
        except ssm.exceptions.ParameterNotFound:
            return {}
        return _parse_document(name, raw)

    def write_document(self, level: ConfigLevel, tenant_id: str | None, document: dict[str, Any]) -> None:
        """Store one level's document after checking that it is a valid configuration on its own.

        Only for seeding an empty level: changes go through ``shared.config.service`` (versions and history).
        """
        self.validate_document(level, tenant_id, document)
        self.put_document(level, tenant_id, document)

    def validate_document(self, level: ConfigLevel, tenant_id: str | None, document: dict[str, Any]) -> None:
        """Raise ``ConfigError`` (naming the value at fault) unless ``document`` is valid at this level."""
        name = self.parameter_name(level, tenant_id)
        merge_levels([(ConfigSource(level=level.value, parameter=name), document)], self.paths).raise_if_misplaced()
        if len(document_text(document).encode()) > MAX_DOCUMENT_BYTES:
            raise ConfigError(f"Invalid config in parameter {name}: larger than {MAX_DOCUMENT_BYTES} bytes.")

    def put_document(
        self, level: ConfigLevel, tenant_id: str | None, document: dict[str, Any], description: str | None = None
    ) -> None:
        """Write one level's SSM parameter as it is (no checks) and forget its cached copy."""
        name = self.parameter_name(level, tenant_id)
        extra = {"Description": description} if description else {}
        self.ssm.put_parameter(
            Name=name, Value=document_text(document), Type="String", Overwrite=True, Tier="Standard", **extra
        )
        self._cache.pop(name, None)

    def _fetch(self, names: set[str], fresh_since: float | None) -> dict[str, dict[str, Any]]:
        now = time.monotonic()
        # Timestamps carry milliseconds: a read sent in the same millisecond as the requeue counts as older.
        floor = None if fresh_since is None else math.floor(fresh_since * 1000)
        expired = sorted(name for name in names if (cached := self._cache.get(name)) is None or cached.expires <= now)
        older = sorted(
            name
            for name in set(names) - set(expired)
            if floor is not None and math.floor(self._cache[name].filled_at * 1000) <= floor
        )
        if self._heads is None:
            expired, older = sorted({*expired, *older}), []
        for start in range(0, len(expired), _GET_PARAMETERS_MAX):
            chunk = expired[start : start + _GET_PARAMETERS_MAX]
            filled_at = time.time()
            response = self.ssm.get_parameters(Names=chunk)
            values = {parameter["Name"]: parameter["Value"] for parameter in response.get("Parameters", [])}
            expires = time.monotonic() + self.max_age_seconds
            for name in chunk:
                self._cache[name] = _Cached(expires=expires, filled_at=filled_at, raw=values.get(name))
        if older and self._heads is not None:
            self._refresh_from_heads(older)
        return {name: _parse_document(name, raw) for name in names if (raw := self._cache[name].raw) is not None}

    def _refresh_from_heads(self, names: list[str]) -> None:
        """Replace cached documents by their levels' heads, which every change commits before its SSM copy.

        A level without a head has never been changed through the config service, so its cached copy stands.
        """
        if self._heads is None:
            return
        filled_at = time.time()
        documents = self._heads([self._levels[name] for name in names])
        for name in names:
            cached = self._cache[name]
            document = documents.get(self._levels[name])
            raw = cached.raw if document is None else document_text(document)
            self._cache[name] = _Cached(expires=cached.expires, filled_at=filled_at, raw=raw)


def document_text(document: dict[str, Any]) -> str:
    """The stored form of a document: compact JSON with sorted keys."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def _parse_document(name: str, raw: str) -> dict[str, Any]:
    try:
        document: Any = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"Invalid config in parameter {name}: not JSON ({error.msg} at position {error.pos})."
        ) from None
    if not isinstance(document, dict):
        raise ConfigError(f"Invalid config in parameter {name}: the document must be a JSON object.")
    return document


def _copy(document: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a JSON document."""
    copied: dict[str, Any] = json.loads(json.dumps(document))
    return copied
