"""AWS requests per operation, pipeline figures and handler import times, printed as one JSON document.

Run with ``make bench``. Requests are counted on every botocore client in the process while the handlers
serve real events against moto; import times are measured the way Lambda loads the handlers
(``benchmarks/cold_start.py``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tests.conftest  # noqa: E402,F401  (sets the moto environment before boto3 loads)
from benchmarks.counting import counting_requests  # noqa: E402


def _measure(action: Callable[[], Any]) -> dict[str, int]:
    with counting_requests() as calls:
        action()
    return dict(calls)


def request_counts() -> dict[str, Any]:
    import boto3
    from moto import mock_aws

    from functions.api import handler as api
    from functions.authorizer import handler as authorizer
    from shared.access import ScopeKind
    from shared.auth.keys import ApiKeyRepository
    from shared.aws import client as aws_client
    from shared.aws import reset_clients
    from shared.jobs.repository import JobRepository
    from tests.support.aws import TABLE_NAME, create_cursor_secret, create_table
    from tests.support.events import FakeContext, api_event, authorizer_event
    from tests.support.factories import create_workspace, make_job

    with mock_aws():
        reset_clients()
        create_table(boto3.client("dynamodb"))
        os.environ["TABLE_NAME"] = TABLE_NAME
        os.environ["CURSOR_SECRET_ARN"] = create_cursor_secret(boto3.client("secretsmanager"))
        os.environ.setdefault("CONFIG_PREFIX", "/gensail/config")
        workspace = create_workspace("b", "Bench")
        key, record = ApiKeyRepository(TABLE_NAME, aws_client("dynamodb")).create(
            ScopeKind.ORGANIZATION, "org_b", "bench", tenant_exists=True
        )
        jobs = JobRepository(TABLE_NAME, aws_client("dynamodb"))
        stored = [jobs.create(make_job(workspace, minutes_ago=i)) for i in range(30)]
        api._service.cache_clear()
        authorizer._keys.cache_clear()
        caller = record.caller()
        context: Any = FakeContext()

        def requeue(job_id: str) -> None:
            event = api_event("PATCH", f"/api/v1/jobs/{job_id}/status", caller, {"status": "queued"})
            assert api.lambda_handler(event, context)["statusCode"] == 200

        def list_page(cursor: str | None = None) -> str | None:
            query = {"status": "skipped", "workspace_id": "ws_b", "limit": "10"}
            if cursor:
                query["cursor"] = cursor
            response = api.lambda_handler(api_event("GET", "/api/v1/jobs", caller, query=query), context)
            assert response["statusCode"] == 200
            return json.loads(response["body"])["next_cursor"]  # type: ignore[no-any-return]

        def authorize() -> None:
            authorizer.lambda_handler(authorizer_event(f"Bearer {key}"), context)

        first_requeue = _measure(lambda: requeue(stored[0].job_id))
        warm_requeue = _measure(lambda: requeue(stored[1].job_id))
        cold_page: dict[str, int] = _measure(list_page)
        cursor = list_page()
        warm_page = _measure(lambda: list_page(cursor))
        uncached_authorization = _measure(authorize)
        reset_clients()
    return {
        "requeue": {"requests": sum(warm_requeue.values()), "by_operation": warm_requeue, "target": 1},
        "requeue_cold_start": {"requests": sum(first_requeue.values()), "by_operation": first_requeue},
        "list_page": {"requests": sum(warm_page.values()), "by_operation": warm_page, "target": "1 Query"},
        "list_page_cold_start": {
            "requests": sum(cold_page.values()),
            "by_operation": cold_page,
            "note": "first page of a process: also reads the cursor secret and the workspace's ancestry, both cached",
        },
        "uncached_authorization": {
            "requests": sum(uncached_authorization.values()),
            "by_operation": uncached_authorization,
            "target": "at most 1 GetItem",
        },
    }


def import_times() -> dict[str, Any]:
    from benchmarks.cold_start import measure

    return measure()


def ingestion_figures() -> dict[str, Any]:
    from benchmarks.ingestion import ingestion_figures as figures

    return figures()


def dispatch_figures() -> dict[str, Any]:
    from benchmarks.ingestion import dispatch_figures as figures

    return figures()


def pipeline_figures() -> dict[str, Any]:
    from benchmarks.pipeline import pipeline_figures as figures

    return figures()


def config_figures() -> dict[str, Any]:
    from benchmarks.config import config_figures as figures

    return figures()


def requeue_batch_figures() -> dict[str, Any]:
    from benchmarks.batches import batch_figures

    return batch_figures()


def main() -> None:
    # The handlers write their logs and metrics (EMF) to stdout; keep stdout for the JSON result.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        requests = request_counts()
        pipeline = pipeline_figures()
        ingestion = {**ingestion_figures(), "dispatch": dispatch_figures()}
        config = config_figures()
        batches = requeue_batch_figures()
    figures = {
        "aws_requests": requests,
        "pipeline": pipeline,
        "ingestion": ingestion,
        "config": config,
        "requeue_batches": batches,
        "import_time": import_times(),
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
