"""The config routes: a level's document, a workspace's effective settings, changes, history and previews.

Thin routes over ``shared.config.service``; included in the API's resolver by ``functions.api.handler``.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from functions.api.common import caller_of, cursor_codec, problem_response, problem_responses
from functions.api.config_models import (
    Author,
    ConfigDocumentBody,
    ConfigHistoryBody,
    EffectiveConfigBody,
    EffectiveValue,
    HistoryEntryBody,
    PreviewBody,
    PreviewRequest,
    ReasonPreview,
)
from functions.api.resolver import media_type, read_json_body
from shared import errors
from shared.access import Caller
from shared.aws import client
from shared.problems import ValidationIssue
from shared.settings import ApiSettings

if TYPE_CHECKING:
    from shared.config.documents import StoredDocument
    from shared.config.hierarchy import ConfigLevel
    from shared.config.preview import ConfigPreview
    from shared.config.service import ConfigService, EffectiveSetting

MERGE_PATCH = "application/merge-patch+json"
HISTORY_PAGE_DEFAULT = 20
HISTORY_PAGE_MAX = 100
_LEVELS = {"partners": "partner", "organizations": "organization", "workspaces": "workspace"}

LEVEL = Annotated[Literal["partners", "organizations", "workspaces"], Path(description="The level of the hierarchy.")]
WORKSPACES = Annotated[Literal["workspaces"], Path(description="Only workspaces have effective settings.")]
TENANT_ID = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="The partner's, organization's or workspace's id.")
]

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves it unannotated


@cache
def config_services() -> tuple[ConfigService, ConfigPreview, Any]:
    """The config domain, imported on first use: a cold start that serves a jobs route never loads it."""
    from shared.config.documents import ConfigDocuments
    from shared.config.hierarchy import ConfigStore
    from shared.config.preview import ConfigPreview, SkippedJobs
    from shared.config.service import ConfigService, TenantAncestry
    from shared.tenants.registry import TenantRegistry

    settings = ApiSettings.from_environ()
    store = ConfigStore(settings.config_prefix, client("ssm"), max_age_seconds=settings.config_cache_seconds)
    service = ConfigService(
        ConfigDocuments(settings.table_name, store, client("dynamodb")),
        TenantAncestry(TenantRegistry(settings.table_name, client("dynamodb"))),
    )

    return service, ConfigPreview(service, SkippedJobs(settings.table_name, client("dynamodb"))), cursor_codec(settings)


def _level(folder: str) -> ConfigLevel:
    """The config level of a path's folder (``workspaces`` -> ``ConfigLevel.WORKSPACE``)."""
    from shared.config.hierarchy import ConfigLevel

    return ConfigLevel(_LEVELS[folder])


def _caller() -> Caller:
    return caller_of(router.current_event)


# How the config routes' answers differ from the jobs routes' (``functions.api.common.PROBLEM_DESCRIPTIONS``).
_DESCRIPTIONS = {
    400: "Invalid request or setting value",
    403: "No access to this level, or a setting only operators may change",
    404: "No route for this path (an id with characters no route accepts)",
    415: "Wrong request content type",
}


def _responses(*statuses: int, ok: type, ok_description: str, etag: bool = False) -> dict[int, Any]:
    responses = problem_responses(*statuses, descriptions=_DESCRIPTIONS)
    responses[200] = {"description": ok_description, "content": {"application/json": {"model": ok}}}
    if etag:
        responses[200]["headers"] = {
            "ETag": {"description": "The document's version, for `If-Match`.", "schema": {"type": "string"}}
        }
    return responses


def _document_response(document: StoredDocument) -> Response[str]:
    body = ConfigDocumentBody(
        level=document.level.value,
        id=str(document.tenant_id),
        config=document.config,
        version=document.version,
        updated_at=document.updated_at,
        updated_by=Author.model_validate(document.updated_by.model_dump()) if document.updated_by else None,
    )
    return Response(
        status_code=200,
        content_type="application/json",
        body=body.model_dump_json(),
        headers={"ETag": document.etag},
    )


def _effective(settings: dict[str, EffectiveSetting]) -> dict[str, EffectiveValue]:
    return {
        path: EffectiveValue.model_validate(
            {"value": setting.value, "source": {"level": setting.level, "id": setting.tenant_id}}
        )
        for path, setting in settings.items()
    }


@router.get(
    "/api/v1/config/<level>/<tenant_id>",
    summary="Get the config document of one level",
    description="Only the settings set at this level (the rest inherit). The `ETag` header is its version.",
    operation_id="getConfig",
    tags=["config"],
    responses=_responses(400, 403, ok=ConfigDocumentBody, ok_description="The level's document", etag=True),
)
def get_config(level: LEVEL, tenant_id: TENANT_ID) -> Response[str]:
    service, _, _ = config_services()
    return _document_response(service.document(_caller(), _level(level), tenant_id))


@router.patch(
    "/api/v1/config/<level>/<tenant_id>",
    summary="Change the config document of one level",
    description=(
        "A JSON Merge Patch (RFC 7396, `application/merge-patch+json`): `null` removes a setting so that it "
        "inherits again. `If-Match` (optional) must be the current `ETag`. Answers the new document."
    ),
    operation_id="patchConfig",
    tags=["config"],
    responses=_responses(400, 403, 409, 412, 415, ok=ConfigDocumentBody, ok_description="The new document", etag=True),
    openapi_extensions={
        "requestBody": {
            "required": True,
            "content": {
                MERGE_PATCH: {
                    "schema": {"type": "object"},
                    "example": {"processing": {"filters": {"min_duration_seconds": 10}}},
                }
            },
        }
    },
)
def patch_config(level: LEVEL, tenant_id: TENANT_ID) -> Response[str]:
    # The body is read here, not by the validation middleware: it is a merge patch, not application/json.
    if media_type(router.current_event.headers.get("content-type")) != MERGE_PATCH:
        raise errors.UnsupportedMediaType(f"The request body must be {MERGE_PATCH}.")
    patch = read_json_body(router.current_event)
    if not isinstance(patch, dict):
        raise _NotJsonObject("The merge patch must be a JSON object.")
    if_match = router.current_event.headers.get("if-match")
    service, _, _ = config_services()
    return _document_response(service.patch(_caller(), _level(level), tenant_id, patch, if_match))


@router.get(
    "/api/v1/config/<level>/<tenant_id>/history",
    summary="List the changes of one level's config",
    description="Newest first: each version with its time, author, and every changed setting (old and new value).",
    operation_id="getConfigHistory",
    tags=["config"],
    responses=_responses(400, 403, ok=ConfigHistoryBody, ok_description="One page of changes"),
)
def config_history(
    level: LEVEL,
    tenant_id: TENANT_ID,
    limit: Annotated[int, Query(ge=1, le=HISTORY_PAGE_MAX, description="Page size.")] = HISTORY_PAGE_DEFAULT,
    cursor: Annotated[str | None, Query(max_length=2048, description="`next_cursor` of the previous page.")] = None,
) -> ConfigHistoryBody:
    service, _, cursors = config_services()
    caller = _caller()
    binding = {"config_history": f"{level}/{tenant_id}", "scope": caller.scope.value, "key_id": caller.key_id}
    start_key = cursors().decode(cursor, binding) if cursor else None
    page = service.history(caller, _level(level), tenant_id, limit, start_key)
    return ConfigHistoryBody(
        changes=[HistoryEntryBody.model_validate(entry.model_dump()) for entry in page.entries],
        next_cursor=cursors().encode(page.last_key, binding) if page.last_key else None,
    )


@router.get(
    "/api/v1/config/<level>/<tenant_id>/effective",
    summary="Get a workspace's effective settings",
    description="Every setting the workspace runs with, each with the level (and tenant) that sets it.",
    operation_id="getEffectiveConfig",
    tags=["config"],
    responses=_responses(400, 403, ok=EffectiveConfigBody, ok_description="The effective settings"),
)
def effective_config(level: WORKSPACES, tenant_id: TENANT_ID) -> EffectiveConfigBody:
    service, _, _ = config_services()
    return EffectiveConfigBody(workspace_id=tenant_id, settings=_effective(service.effective(_caller(), tenant_id)))


@router.post(
    "/api/v1/config/<level>/<tenant_id>/preview",
    summary="Preview a config change on a workspace's skipped jobs",
    description=(
        "Nothing is written. For a merge patch of a level the workspace inherits from: its effective filters "
        "before and after, and how many of its skipped jobs would pass the filters after the change, by skip "
        "reason, with up to 20 job ids of each."
    ),
    operation_id="previewConfig",
    tags=["config"],
    responses=_responses(400, 403, 415, ok=PreviewBody, ok_description="What the change would do"),
)
def preview_config(level: WORKSPACES, tenant_id: TENANT_ID, change: PreviewRequest) -> PreviewBody:
    _, previewer, _ = config_services()
    target = _level(f"{change.level}s")
    preview = previewer.preview(_caller(), tenant_id, target, change.id, change.patch)
    return PreviewBody(
        workspace_id=preview.workspace_id,
        filters_before=_effective(preview.filters_before),
        filters_after=_effective(preview.filters_after),
        skipped_jobs=preview.skipped,
        would_pass=preview.would_pass,
        would_stay_skipped=preview.skipped - preview.would_pass,
        by_reason=[
            ReasonPreview(
                reason=group.reason,
                skipped=group.skipped,
                would_pass=group.would_pass,
                would_stay_skipped=group.skipped - group.would_pass,
                sample_job_ids=group.sample_job_ids,
            )
            for group in preview.groups
        ],
    )


class _NotJsonObject(errors.DomainError):
    code = "validation_error"


# The errors only config routes raise; the API's own handlers (functions.api.handler) answer the shared ones.
_CONFIG_ERRORS = (
    errors.SettingNotWritable,
    errors.PreconditionFailed,
    errors.InvalidConfigChange,
    errors.ConfigConflict,
    _NotJsonObject,
)


@router.exception_handler(list(_CONFIG_ERRORS))
def config_error(error: errors.DomainError) -> Response[str]:
    issues = None
    if isinstance(error, errors.InvalidConfigChange) and error.key:
        issues = [ValidationIssue(location=f"config.{error.key}", message=error.detail)]
    return problem_response(router.current_event, error.code, error.detail, issues)
