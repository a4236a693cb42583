"""Fifty clients requeue the same job at once against a single-threaded moto server: exactly one wins."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.access import ScopeKind
from shared.auth.keys import ApiKeyRepository
from shared.aws import client as aws_client
from shared.jobs.repository import JobRepository
from shared.tenants.registry import TenantRegistry
from tests.integration.api.conftest import ApiReply
from tests.support.aws import TABLE_NAME
from tests.support.events import FakeContext, api_event
from tests.support.factories import make_job

CLIENTS = 50


@pytest.mark.slow
def test_concurrent_requeues_of_one_job_have_exactly_one_winner(moto_server: str) -> None:
    import json

    from functions.api import handler

    # Given a skipped job and an organization key over its workspace
    registry = TenantRegistry(TABLE_NAME, aws_client("dynamodb"))
    registry.create_partner("Race partner", "ptn_r")
    registry.create_organization("ptn_r", "Race org", "org_r")
    workspace = registry.create_workspace("org_r", "Race workspace", "ws_r")
    _, record = ApiKeyRepository(TABLE_NAME, aws_client("dynamodb")).create(
        ScopeKind.ORGANIZATION, "org_r", "race", tenant_exists=True
    )
    job = JobRepository(TABLE_NAME, aws_client("dynamodb")).create(make_job(workspace, duration=10))
    handler._service.cache_clear()
    event = api_event("PATCH", f"/api/v1/jobs/{job.job_id}/status", record.caller(), {"status": "queued"})

    def requeue(_: int) -> ApiReply:
        response = handler.lambda_handler(dict(event), FakeContext())  # type: ignore[arg-type]
        return ApiReply(status=response["statusCode"], body=json.loads(response["body"]), headers={})

    # When fifty clients requeue it at the same moment
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        replies = list(pool.map(requeue, range(CLIENTS)))

    # Then exactly one succeeds, the others are told the job is no longer skipped, and it was counted once
    assert Counter(reply.status for reply in replies) == {200: 1, 400: CLIENTS - 1}
    assert {reply.body["code"] for reply in replies if reply.status == 400} == {"job_not_skipped"}
    stored = JobRepository(TABLE_NAME, aws_client("dynamodb")).get(job.job_id)
    assert stored is not None
    assert stored.source_metadata["requeue_count"] == 1
    handler._service.cache_clear()
