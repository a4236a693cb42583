"""Every call the client makes, built once for both clients: the routes and their requests."""

from __future__ import annotations

import json
from typing import Any

import httpx

from gensail._batch_operations import BATCH_ROUTES
from gensail._core import Operation, PageSpec, Route, model_parser, query
from gensail.config_models import (
    ConfigDocument,
    ConfigHistory,
    ConfigPreview,
    EffectiveConfig,
    HistoryEntry,
    Level,
    PreviewRequest,
)
from gensail.models import Job, JobList, JobStatus, RequeueResponse, StatusChange

MERGE_PATCH = "application/merge-patch+json"
JSON = "application/json"

LIST_JOBS = Route("GET", "/api/v1/jobs", JobList)
GET_JOB = Route("GET", "/api/v1/jobs/{job_id}", Job)
REQUEUE_JOB = Route("PATCH", "/api/v1/jobs/{job_id}/status", RequeueResponse, StatusChange)
GET_CONFIG = Route("GET", "/api/v1/config/{level}/{id}", ConfigDocument)
PATCH_CONFIG = Route("PATCH", "/api/v1/config/{level}/{id}", ConfigDocument)
EFFECTIVE_CONFIG = Route("GET", "/api/v1/config/workspaces/{id}/effective", EffectiveConfig)
CONFIG_HISTORY = Route("GET", "/api/v1/config/{level}/{id}/history", ConfigHistory)
PREVIEW_CONFIG = Route("POST", "/api/v1/config/workspaces/{id}/preview", ConfigPreview, PreviewRequest)

# Every route the client calls, with the models of its bodies (a test compares them with the OpenAPI document).
ROUTES = (
    LIST_JOBS,
    GET_JOB,
    REQUEUE_JOB,
    GET_CONFIG,
    PATCH_CONFIG,
    EFFECTIVE_CONFIG,
    CONFIG_HISTORY,
    PREVIEW_CONFIG,
    *BATCH_ROUTES,
)

# The levels as the API names them in paths.
_PATH_LEVELS: dict[str, str] = {"partner": "partners", "organization": "organizations", "workspace": "workspaces"}


def list_jobs(status: JobStatus | str | None, workspace_id: str | None, limit: int | None) -> PageSpec[JobList, Job]:
    def page(cursor: str | None) -> Operation[JobList]:
        params = query(
            status=JobStatus(status).value if status is not None else None,
            workspace_id=workspace_id,
            limit=limit,
            cursor=cursor,
        )
        return Operation(LIST_JOBS.method, LIST_JOBS.url(), model_parser(JobList), params=params)

    return PageSpec(page=page, items=lambda listing: listing.jobs, next_cursor=lambda listing: listing.next_cursor)


def get_job(job_id: str | int) -> Operation[Job]:
    return Operation(GET_JOB.method, GET_JOB.url(job_id=str(job_id)), model_parser(Job))


def requeue_job(job_id: str | int) -> Operation[RequeueResponse]:
    body = StatusChange(status=JobStatus.QUEUED.value).model_dump_json().encode()
    return Operation(
        REQUEUE_JOB.method,
        REQUEUE_JOB.url(job_id=str(job_id)),
        model_parser(RequeueResponse),
        content=body,
        headers={"Content-Type": JSON},
    )


def _document(response: httpx.Response) -> ConfigDocument:
    document = ConfigDocument.model_validate_json(response.content)
    document._etag = response.headers.get("etag")
    return document


def get_config(level: Level, tenant_id: str) -> Operation[ConfigDocument]:
    return Operation(GET_CONFIG.method, GET_CONFIG.url(level=_PATH_LEVELS[level], id=tenant_id), _document)


def patch_config(
    level: Level, tenant_id: str, patch: dict[str, Any], if_match: str | None
) -> Operation[ConfigDocument]:
    headers = {"Content-Type": MERGE_PATCH}
    if if_match is not None:
        headers["If-Match"] = if_match
    return Operation(
        PATCH_CONFIG.method,
        PATCH_CONFIG.url(level=_PATH_LEVELS[level], id=tenant_id),
        _document,
        content=json.dumps(patch).encode(),
        headers=headers,
    )


def effective_config(workspace_id: str) -> Operation[EffectiveConfig]:
    return Operation(EFFECTIVE_CONFIG.method, EFFECTIVE_CONFIG.url(id=workspace_id), model_parser(EffectiveConfig))


def preview_config(
    workspace_id: str, level: Level, tenant_id: str | None, patch: dict[str, Any]
) -> Operation[ConfigPreview]:
    if tenant_id is None and level != "workspace":
        raise ValueError(f"Name the {level} whose document the patch changes (tenant_id=...).")
    body = PreviewRequest(level=level, id=tenant_id or workspace_id, patch=patch).model_dump_json().encode()
    return Operation(
        PREVIEW_CONFIG.method,
        PREVIEW_CONFIG.url(id=workspace_id),
        model_parser(ConfigPreview),
        content=body,
        headers={"Content-Type": JSON},
    )


def config_history(level: Level, tenant_id: str, limit: int | None) -> PageSpec[ConfigHistory, HistoryEntry]:
    def page(cursor: str | None) -> Operation[ConfigHistory]:
        path = CONFIG_HISTORY.url(level=_PATH_LEVELS[level], id=tenant_id)
        params = query(limit=limit, cursor=cursor)
        return Operation(CONFIG_HISTORY.method, path, model_parser(ConfigHistory), params=params)

    return PageSpec(page=page, items=lambda history: history.changes, next_cursor=lambda history: history.next_cursor)
