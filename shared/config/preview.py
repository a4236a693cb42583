"""What a config change would do to a workspace's skipped jobs, without writing anything.

The preview applies the worker's own filter check (``skip_reason_for_call``) to every skipped job of the
workspace under the config as it would be after the change: the counts are what requeuing those jobs would do.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from shared import schema
from shared.access import Caller
from shared.config.changes import apply_merge_patch, changed_settings, require_customer_writable
from shared.config.hierarchy import ConfigLevel
from shared.config.service import ConfigService, EffectiveSetting, effective_settings, resolve_documents
from shared.dynamo import TableRepository, from_item, serialize
from shared.errors import AccessDenied
from shared.jobs.models import JobStatus
from shared.processing.filters import skip_reason_for_call

SAMPLE_SIZE = 20
FILTERS_PREFIX = "processing.filters."


@dataclass
class ReasonGroup:
    """The skipped jobs of one skip reason: how many, how many would pass, and a sample of those."""

    reason: str
    skipped: int = 0
    would_pass: int = 0
    sample_job_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Preview:
    workspace_id: str
    filters_before: dict[str, EffectiveSetting]
    filters_after: dict[str, EffectiveSetting]
    skipped: int
    would_pass: int
    groups: list[ReasonGroup]


class SkippedJobs(TableRepository):
    """The skipped jobs of a workspace, reading only the attributes the filters and the preview need."""

    def scan(self, workspace_id: str) -> Iterator[dict[str, Any]]:
        paginator = self._db.get_paginator("query")
        pages = paginator.paginate(
            TableName=self._table,
            IndexName=schema.BY_WORKSPACE_STATUS.name,
            KeyConditionExpression="workspace_id = :workspace AND #status = :skipped",
            ProjectionExpression="job_id, duration_seconds, skipped_reason",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":workspace": serialize(workspace_id),
                ":skipped": serialize(JobStatus.SKIPPED.value),
            },
            ScanIndexForward=False,
        )
        for page in pages:
            for item in page.get("Items", []):
                yield from_item(item)


class ConfigPreview:
    """Previews a change of one level's document on one workspace's skipped jobs."""

    def __init__(self, service: ConfigService, jobs: SkippedJobs) -> None:
        self._service = service
        self._jobs = jobs

    def preview(
        self, caller: Caller, workspace_id: str, level: ConfigLevel, tenant_id: str, patch: dict[str, Any]
    ) -> Preview:
        """The workspace's filters before and after ``patch`` at ``level``, and its skipped jobs that would pass."""
        ancestry = self._service.reachable(caller, ConfigLevel.WORKSPACE, workspace_id)
        chain = ancestry.chain()
        if (level, tenant_id) not in chain or level is ConfigLevel.PLATFORM:
            raise AccessDenied(f"Workspace {workspace_id} does not inherit from {level} {tenant_id}.")
        self._service.reachable(caller, level, tenant_id)
        documents = self._service.documents.read_chain(chain)
        before = resolve_documents(documents)
        changed = []
        for document in documents:
            if (document.level, document.tenant_id) == (level, tenant_id):
                config = apply_merge_patch(document.config, patch)
                require_customer_writable(changed_settings(document.config, config))
                self._service.validate(level, tenant_id, config)
                changed.append(document.model_copy(update={"config": config}))
            else:
                changed.append(document)
        after = resolve_documents(changed)
        groups: dict[str, ReasonGroup] = {}
        for job in self._jobs.scan(workspace_id):
            reason = skip_reason_kind(str(job.get("skipped_reason") or "unknown"))
            group = groups.setdefault(reason, ReasonGroup(reason=reason))
            group.skipped += 1
            if skip_reason_for_call(job.get("duration_seconds"), after.config) is None:
                group.would_pass += 1
                if len(group.sample_job_ids) < SAMPLE_SIZE:
                    group.sample_job_ids.append(str(job["job_id"]))
        return Preview(
            workspace_id=workspace_id,
            filters_before=_filters(effective_settings(before, chain)),
            filters_after=_filters(effective_settings(after, chain)),
            skipped=sum(group.skipped for group in groups.values()),
            would_pass=sum(group.would_pass for group in groups.values()),
            groups=sorted(groups.values(), key=lambda group: (-group.skipped, group.reason)),
        )


def skip_reason_kind(reason: str) -> str:
    """The reason without its figures: ``duration_below_minimum:12<30`` groups as ``duration_below_minimum``."""
    return reason.partition(":")[0]


def _filters(settings: dict[str, EffectiveSetting]) -> dict[str, EffectiveSetting]:
    return {path: setting for path, setting in settings.items() if path.startswith(FILTERS_PREFIX)}
