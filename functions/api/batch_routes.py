"""The requeue batch routes: create a batch, read it, list a workspace's, cancel one.

Thin routes over ``shared.batches.service``; included in the API's resolver by ``functions.api.handler``.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query

from functions.api.batch_models import CreateRequeueBatch, RequeueBatch, RequeueBatchList
from functions.api.common import caller_of, cursor_codec, problem_response, problem_responses
from shared import errors
from shared.access import Caller
from shared.aws import client
from shared.batches.service import BatchService
from shared.batches.store import BatchStore
from shared.jobs.service import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, WorkspaceDirectory
from shared.settings import ApiSettings
from shared.tenants.registry import TenantRegistry

if TYPE_CHECKING:
    from shared.batches.idempotency import IdempotentCreates

BATCH_ID = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="The batch id (`rb_...`).")]
IDEMPOTENCY_KEY = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=r"^[\x21-\x7e]{1,255}$",
        description="Makes a retried POST answer the batch the first one created (the same body is required).",
    ),
]

logger = Logger()
router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves it unannotated


@cache
def batch_service() -> BatchService:
    settings = ApiSettings.from_environ()
    registry = TenantRegistry(settings.table_name, client("dynamodb"))

    def workspace_path(workspace_id: str) -> Any:
        workspace = registry.get_workspace(workspace_id)
        return workspace.path if workspace else None

    @cache
    def idempotency() -> IdempotentCreates:
        # Imported on first use: only a create with an Idempotency-Key loads Powertools' idempotency utility.
        from shared.batches.idempotency import IdempotentCreates

        return IdempotentCreates(settings.table_name, client("dynamodb"))

    def workspace_paths(workspace_ids: list[str]) -> Any:
        return {workspace_id: found.path for workspace_id, found in registry.get_workspaces(workspace_ids).items()}

    return BatchService(
        BatchStore(settings.table_name, client("dynamodb")),
        WorkspaceDirectory(workspace_path, settings.tenant_cache_seconds, workspace_paths),
        cursor_codec(settings),
        idempotency,
    )


def _caller() -> Caller:
    return caller_of(router.current_event)


_DESCRIPTIONS = {
    400: "Invalid request, or a non-workspace key without `workspace_ids` / `workspace_id`",
    403: "No access to a workspace of the batch",
    404: "No such batch, or no route for this path",
}


def _responses(*statuses: int, ok: int, model: type, ok_description: str, conflict: str | None = None) -> Any:
    descriptions = dict(_DESCRIPTIONS)
    if conflict:
        descriptions[409] = conflict
    responses: dict[int, Any] = problem_responses(*statuses, descriptions=descriptions)
    responses[ok] = {"description": ok_description, "content": {"application/json": {"model": model}}}
    return responses


def _accepted(batch: RequeueBatch) -> Response[str]:
    return Response(status_code=202, content_type="application/json", body=batch.model_dump_json())


@router.post(
    "/api/v1/requeue-batches",
    summary="Start a requeue batch",
    description=(
        "Requeues a selection of skipped jobs on the server, throttled, with progress and cancel. The batch starts "
        "`pending`; read it with `GET /api/v1/requeue-batches/{batch_id}`. One pending or running batch per "
        "workspace. With `Idempotency-Key`, a retry with the same body answers the same batch."
    ),
    operation_id="createRequeueBatch",
    tags=["requeue-batches"],
    responses=_responses(
        400,
        403,
        409,
        415,
        ok=202,
        model=RequeueBatch,
        ok_description="Batch accepted",
        conflict="`batch_in_progress`: a workspace has a pending or running batch; `idempotency_key_reused`: the "
        "key was used with another body; `idempotency_key_in_use`: its first request is still running",
    ),
)
def create_batch(body: CreateRequeueBatch, idempotency_key: IDEMPOTENCY_KEY = None) -> Response[str]:
    batch = batch_service().create(_caller(), body.request(), idempotency_key, router.lambda_context)
    logger.info(
        "requeue batch accepted",
        batch_id=batch.batch_id,
        workspaces=len(batch.selection.workspace_ids),
        dry_run=batch.dry_run,
    )
    return _accepted(RequeueBatch.of(batch))


@router.get(
    "/api/v1/requeue-batches",
    summary="List a workspace's requeue batches",
    description="Newest first. Workspace keys may omit `workspace_id`; organization and partner keys must name one. "
    "Only batches the key may read (it covers all their workspaces).",
    operation_id="listRequeueBatches",
    tags=["requeue-batches"],
    responses=_responses(400, 403, ok=200, model=RequeueBatchList, ok_description="One page of batches"),
)
def list_batches(
    workspace_id: Annotated[str | None, Query(max_length=64, description="The workspace to list.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size.")] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=2048, description="`next_cursor` of the previous page.")] = None,
) -> RequeueBatchList:
    listing = batch_service().list(_caller(), workspace_id, limit, cursor)
    return RequeueBatchList(
        batches=[RequeueBatch.of(batch) for batch in listing.batches], next_cursor=listing.next_cursor
    )


@router.get(
    "/api/v1/requeue-batches/<batch_id>",
    summary="Get a requeue batch",
    description="Its status, selection and counts so far.",
    operation_id="getRequeueBatch",
    tags=["requeue-batches"],
    responses=_responses(400, 403, 404, ok=200, model=RequeueBatch, ok_description="The batch"),
)
def get_batch(batch_id: BATCH_ID) -> RequeueBatch:
    return RequeueBatch.of(batch_service().get(_caller(), batch_id))


@router.post(
    "/api/v1/requeue-batches/<batch_id>/cancel",
    summary="Cancel a requeue batch",
    description=(
        "Records the cancel; the runner stops within one page and the batch ends `cancelled` with its counts so "
        "far (what was requeued stays requeued). Cancelling again is fine."
    ),
    operation_id="cancelRequeueBatch",
    tags=["requeue-batches"],
    responses=_responses(
        400,
        403,
        404,
        409,
        ok=202,
        model=RequeueBatch,
        ok_description="Cancel recorded",
        conflict="`batch_finished`: the batch has already ended",
    ),
)
def cancel_batch(batch_id: BATCH_ID) -> Response[str]:
    batch = batch_service().cancel(_caller(), batch_id)
    logger.info("requeue batch cancel requested", batch_id=batch_id)
    return _accepted(RequeueBatch.of(batch))


# The errors only batch routes raise; the API's own handlers (functions.api.handler) answer the shared ones.
_BATCH_ERRORS = (
    errors.BatchNotFound,
    errors.BatchInProgress,
    errors.BatchFinished,
    errors.IdempotencyKeyReused,
    errors.IdempotencyKeyInUse,
)


@router.exception_handler(list(_BATCH_ERRORS))
def batch_error(error: errors.DomainError) -> Response[str]:
    return problem_response(router.current_event, error.code, error.detail)
