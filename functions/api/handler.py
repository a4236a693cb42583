"""The public jobs API: one Powertools resolver, thin routes over ``shared.jobs.service``."""

from __future__ import annotations

import gc

# Cold start: importing the resolver, its validation and the models allocates many long-lived objects, and the
# cyclic collector would only scan them. It is paused until the module is ready, and the objects are then frozen
# (see the end of the module) so that neither the first collection nor any later one walks them again.
gc.disable()

import json
from functools import cache
from typing import Annotated, Any, Literal

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.api.batch_routes import batch_service  # noqa: F401  # named here for the same reason
from functions.api.batch_routes import router as batch_router
from functions.api.common import caller_of, cursor_codec, problem_response, problem_responses

# ``config_services`` is named here so that whoever resets this module's cached services resets those too.
from functions.api.config_routes import config_services  # noqa: F401
from functions.api.config_routes import router as config_router
from functions.api.models import Job, JobList, RequeueResponse, StatusChange
from functions.api.resolver import JSON_BODY_REQUIRED, HardenedRestResolver
from shared import errors
from shared.access import Caller
from shared.aws import client
from shared.errors import DomainError
from shared.jobs.models import JobStatus
from shared.jobs.repository import JobRepository
from shared.jobs.service import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, JobService, WorkspaceDirectory
from shared.problems import ValidationIssue
from shared.settings import ApiSettings
from shared.tenants.registry import TenantRegistry


def openapi_settings() -> dict[str, Any]:
    """Title, description and security of the OpenAPI document (imported lazily: Lambda never needs them)."""
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    return {
        "title": "Gensail Jobs API",
        "version": "1.0.0",
        "description": "Read call-processing jobs and requeue skipped ones against the current processing filters; "
        "read and change the processing config.",
        "security_schemes": {"apiKey": HTTPBearer(description="A Gensail API key: `Authorization: Bearer gsk_...`.")},
        "security": [{"apiKey": []}],
    }


JOB_ID = Annotated[str, Path(pattern=r"^[0-9]{1,20}$", description="Numeric job id.", examples=["12345"])]

logger = Logger()
metrics = Metrics()
app = HardenedRestResolver()

app.include_router(config_router)
app.include_router(batch_router)


@cache
def _service() -> JobService:
    settings = ApiSettings.from_environ()
    registry = TenantRegistry(settings.table_name, client("dynamodb"))

    def workspace_path(workspace_id: str) -> Any:
        workspace = registry.get_workspace(workspace_id)
        return workspace.path if workspace else None

    return JobService(
        jobs=JobRepository(settings.table_name, client("dynamodb")),
        workspaces=WorkspaceDirectory(workspace_path, settings.tenant_cache_seconds),
        cursors=cursor_codec(settings),
    )


def _caller() -> Caller:
    return caller_of(app.current_event)


@app.patch(
    "/api/v1/jobs/<job_id>/status",
    summary="Requeue a skipped job",
    description="Moves a `skipped` job back to `queued`; the worker re-validates it against the current filters.",
    operation_id="requeueJob",
    tags=["jobs"],
    responses={
        200: {"description": "Job requeued", "content": {"application/json": {"model": RequeueResponse}}},
        **problem_responses(400, 403, 404, 415),
    },
)
def requeue_job(job_id: JOB_ID, change: StatusChange) -> RequeueResponse:
    result = _service().requeue(job_id, change.status, _caller())
    metrics.add_metric(name="JobsRequeued", unit=MetricUnit.Count, value=1)
    logger.info("job requeued", job_id=job_id, requeue_count=result.job.requeue_count)
    return RequeueResponse(
        job_id=result.job.job_id,
        previous_status=result.previous_status,
        new_status=result.job.status,
        message=result.message,
    )


@app.get(
    "/api/v1/jobs",
    summary="List a workspace's jobs",
    description="Newest first. Workspace keys may omit `workspace_id`; organization and partner keys must name one.",
    operation_id="listJobs",
    tags=["jobs"],
    responses={
        200: {"description": "One page of jobs", "content": {"application/json": {"model": JobList}}},
        **problem_responses(400, 403),
    },
)
def list_jobs(
    status: Annotated[JobStatus | None, Query(description="Only jobs in this status.")] = None,
    workspace_id: Annotated[str | None, Query(max_length=64, description="The workspace to list.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size.")] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=2048, description="`next_cursor` of the previous page.")] = None,
) -> JobList:
    listing = _service().list(_caller(), workspace_id, status, limit, cursor)
    return JobList(jobs=[Job.of(job) for job in listing.jobs], next_cursor=listing.next_cursor)


@app.get(
    "/api/v1/jobs/lookup",
    summary="Find the job of a source call",
    description="The job created from a call of `source` (today `callrail`) with this id.",
    operation_id="lookupJob",
    tags=["jobs"],
    responses={
        200: {"description": "The job", "content": {"application/json": {"model": Job}}},
        **problem_responses(400, 403, 404),
    },
)
def lookup_job(
    source: Annotated[Literal["callrail"], Query(description="Where the call came from.")],
    source_id: Annotated[str, Query(min_length=1, max_length=128, description="The call's id at the source.")],
) -> Job:
    return Job.of(_service().lookup(source, source_id, _caller()))


@app.get(
    "/api/v1/jobs/<job_id>",
    summary="Get a job",
    description="The job with its status, skip reason, requeue metadata and history.",
    operation_id="getJob",
    tags=["jobs"],
    responses={
        200: {"description": "The job", "content": {"application/json": {"model": Job}}},
        **problem_responses(400, 403, 404),
    },
)
def get_job(job_id: JOB_ID) -> Job:
    return Job.of(_service().get(job_id, _caller()))


@app.get(
    "/api/v1/openapi.json",
    summary="This API's OpenAPI document",
    operation_id="getOpenApiDocument",
    tags=["meta"],
    security=[],
    openapi_extensions={"security": []},  # Powertools drops an empty security list; this route needs no key
    responses={
        200: {"description": "OpenAPI 3.1 document", "content": {"application/json": {"schema": {}}}},
        **problem_responses(public=True),
    },
)
def openapi_route() -> Response[str]:
    return Response(status_code=200, content_type="application/json", body=json.dumps(openapi_document()))


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document generated from the routes above.

    Powertools documents request validation failures as 422 ``HTTPValidationError``; this API answers them
    with a 400 problem (see ``invalid_request``), so those entries are replaced by what the API really sends.
    """
    document: dict[str, Any] = json.loads(app.get_openapi_json_schema(**openapi_settings()))
    for operations in document["paths"].values():
        for operation in operations.values():
            operation["responses"].pop("422", None)
    schemas = document["components"]["schemas"]
    for generated in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(generated, None)
    return document


def _problem_response(code: str, detail: str, issues: list[ValidationIssue] | None = None) -> Response[str]:
    return problem_response(app.current_event, code, detail, issues)


# The domain errors a client may see; their stable codes index the problem catalogue (status and title).
_CLIENT_ERRORS = (
    errors.JobNotFound,
    errors.AccessDenied,
    errors.InvalidStatus,
    errors.JobNotSkipped,
    errors.InvalidCursor,
    errors.WorkspaceRequired,
    errors.UnsupportedMediaType,
)


@app.exception_handler(DomainError)
def domain_error(error: DomainError) -> Response[str]:
    if not isinstance(error, _CLIENT_ERRORS):
        logger.exception("domain error not meant for clients")
        return _problem_response("internal_error", "The request could not be completed.")
    return _problem_response(error.code, error.detail)


@app.exception_handler(RequestValidationError)
def invalid_request(error: RequestValidationError) -> Response[str]:
    issues = [
        ValidationIssue(location=".".join(str(part) for part in issue["loc"]), message=issue["msg"])
        for issue in error.errors()
    ]
    return _problem_response("validation_error", "The request is not valid; see errors.", issues)


@app.exception_handler(RequestUnsupportedContentType)
def unsupported_media_type(_: RequestUnsupportedContentType) -> Response[str]:
    # Powertools raises this before validation for a body it cannot parse (e.g. text/plain); without this
    # handler the catch-all below would answer 500.
    return _problem_response("unsupported_media_type", JSON_BODY_REQUIRED)


@app.not_found
def route_not_found(_: NotFoundError) -> Response[str]:
    method, path = app.current_event.http_method, app.current_event.path
    allowed = app.allowed_methods(path)
    if not allowed:
        return _problem_response("route_not_found", f"No route {method} {path}.")
    response = _problem_response("method_not_allowed", f"This path answers {', '.join(allowed)} only.")
    response.headers["Allow"] = ", ".join(allowed)
    return response


@app.exception_handler(Exception)
def unexpected_error(_: Exception) -> Response[str]:
    logger.exception("unhandled error")
    return _problem_response("internal_error", "The request could not be completed.")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


# Everything allocated so far lives as long as the execution environment. Freezing it moves it out of the
# collector's generations: without this, the first collection after ``gc.enable()`` is a full one over every
# object the imports created (about 25 ms, a seventh of the cold start). The price is that the few cycles left
# as garbage by the imports are kept, once per process.
gc.freeze()
gc.enable()
