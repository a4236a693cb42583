"""The single-table schema: key names, index definitions and key formats.

CDK builds the table from these definitions and every repository writes keys through these helpers, so the
schema is defined once. Indexes use multi-attribute keys over plain item attributes: a status change is then
a plain ``SET status = :new`` and needs no read of the item to rebuild a composite key string.
"""

from __future__ import annotations

from dataclasses import dataclass

PARTITION_KEY = "pk"
SORT_KEY = "sk"
STREAM_VIEW = "NEW_AND_OLD_IMAGES"


@dataclass(frozen=True)
class IndexDefinition:
    """A global secondary index: its partition and sort key attributes (all strings), projecting all."""

    name: str
    partition_keys: tuple[str, ...]
    sort_keys: tuple[str, ...]


# Jobs of one workspace in one status, newest first (only jobs carry ``status``, so tenants are not indexed).
BY_WORKSPACE_STATUS = IndexDefinition("by_workspace_status", ("workspace_id", "status"), ("created_at",))
# Items of one kind in one workspace, newest first: ``entity = job`` lists a workspace's jobs in any status.
BY_WORKSPACE = IndexDefinition("by_workspace", ("workspace_id", "entity"), ("created_at",))
# Registries by kind: tenants ordered by their path, API keys by key id. Only items with ``entity_sort``.
BY_ENTITY = IndexDefinition("by_entity", ("entity",), ("entity_sort",))

GLOBAL_INDEXES = (BY_WORKSPACE_STATUS, BY_WORKSPACE, BY_ENTITY)


class Entity:
    JOB = "job"
    PARTNER = "partner"
    ORGANIZATION = "organization"
    WORKSPACE = "workspace"
    API_KEY = "api_key"
    SOURCE_CALL = "source_call"
    CONFIG = "config"
    CONFIG_CHANGE = "config_change"
    REQUEUE_BATCH = "requeue_batch"


def job_key(job_id: str) -> dict[str, str]:
    return {PARTITION_KEY: f"JOB#{job_id}", SORT_KEY: "JOB"}


def tenant_key(entity: str, tenant_id: str) -> dict[str, str]:
    return {PARTITION_KEY: f"{entity.upper()}#{tenant_id}", SORT_KEY: entity.upper()}


def api_key_key(key_hash: str) -> dict[str, str]:
    return {PARTITION_KEY: f"KEY#{key_hash}", SORT_KEY: "KEY"}


def source_call_key(source: str, source_id: str) -> dict[str, str]:
    return {PARTITION_KEY: f"SOURCE#{source}#{source_id}", SORT_KEY: "SOURCE"}


# Items that expire on their own (ingestion day counters) carry this attribute, epoch seconds; the table's TTL.
TTL_ATTRIBUTE = "expires_at"


def cursor_key(source: str, workspace_id: str) -> dict[str, str]:
    """Where a workspace's poll of ``source`` left off."""
    return {PARTITION_KEY: f"CURSOR#{source}#{workspace_id}", SORT_KEY: "CURSOR"}


def day_counter_key(counted: str, scope: str, tenant_id: str, day: str) -> dict[str, str]:
    """A per-UTC-day counter of ``counted`` things for one tenant (``scope`` is workspace or partner)."""
    return {PARTITION_KEY: f"COUNTER#{counted}#{scope}#{tenant_id}#{day}", SORT_KEY: "COUNTER"}


# A config level's document (``level`` is platform, partner, organization or workspace; the platform's id is
# ``platform``): the head item holds the current document, its version and author; each change adds one history
# item under the same partition, sorted by version. The head's version is what conditional writes check.
CONFIG_HEAD_SORT = "HEAD"
CONFIG_HISTORY_PREFIX = "CHANGE#"


def config_partition(level: str, tenant_id: str) -> str:
    return f"CONFIG#{level}#{tenant_id}"


def config_head_key(level: str, tenant_id: str) -> dict[str, str]:
    return {PARTITION_KEY: config_partition(level, tenant_id), SORT_KEY: CONFIG_HEAD_SORT}


def config_change_key(level: str, tenant_id: str, version: int) -> dict[str, str]:
    """One change of a level's document; zero-padded so that the sort key orders versions."""
    return {PARTITION_KEY: config_partition(level, tenant_id), SORT_KEY: f"{CONFIG_HISTORY_PREFIX}{version:012d}"}


def requeue_batch_key(batch_id: str) -> dict[str, str]:
    """A requeue batch: its selection, status, counts and progress."""
    return {PARTITION_KEY: f"BATCH#{batch_id}", SORT_KEY: "BATCH"}


def requeue_batch_member_key(batch_id: str, workspace_id: str) -> dict[str, str]:
    """One workspace of a batch, with ``workspace_id``, ``entity = requeue_batch`` and ``created_at``: what
    ``GET /requeue-batches?workspace_id=`` lists through ``BY_WORKSPACE``."""
    return {PARTITION_KEY: f"BATCH#{batch_id}", SORT_KEY: f"WORKSPACE#{workspace_id}"}


def requeue_lock_key(workspace_id: str) -> dict[str, str]:
    """Held (``batch_id``) while a batch of the workspace is pending or running: one at a time per workspace."""
    return {PARTITION_KEY: f"REQUEUE_LOCK#{workspace_id}", SORT_KEY: "LOCK"}


def throttle_key(name: str, partner_id: str) -> dict[str, str]:
    """A partner's rate limiter for ``name`` (the requeue batches' jobs per second)."""
    return {PARTITION_KEY: f"THROTTLE#{name}#{partner_id}", SORT_KEY: "THROTTLE"}


def idempotency_partition(name: str) -> str:
    """The partition of ``name``'s idempotency records (Powertools' idempotency utility, one partition per use)."""
    return f"IDEMPOTENCY#{name}"


def requeue_batch_partitions() -> list[str]:
    """``dynamodb:LeadingKeys`` patterns of what creating, reading and cancelling batches touches: batch,
    member and abandoned-marker items, workspace locks, and the idempotency records of batch creation."""
    return [
        requeue_batch_key("*")[PARTITION_KEY],
        requeue_lock_key("*")[PARTITION_KEY],
        idempotency_partition("requeue-batches"),
    ]
