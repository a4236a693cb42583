"""The local runtime end to end: the spec's flow over HTTP with the demo keys, on the synthesized wiring."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.local.runtime import LocalRuntime
from shared import schema
from shared.aws import client
from shared.jobs.models import requeue_message

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SPEC_BASE_URL = "https://analytics-api.gensail.com"
LOCAL_BASE_URL = "http://127.0.0.1:8000"


def _key(demo: dict[str, Any], scope: str, index: int = 0) -> dict[str, Any]:
    keys: list[dict[str, Any]] = [key for key in demo["api_keys"] if key["scope"] == scope]
    return keys[index]


def _bearer(key: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {key['key']}"}


def _workspaces_of(demo: dict[str, Any], partner_id: str) -> list[str]:
    organizations = {t["id"] for t in demo["tenants"] if t["kind"] == "organization" and t["parent_id"] == partner_id}
    return [t["id"] for t in demo["tenants"] if t["kind"] == "workspace" and t["parent_id"] in organizations]


def test_demo_file_lists_urls_keys_and_tenants(runtime: LocalRuntime, demo: dict[str, Any]) -> None:
    kinds = Counter(tenant["kind"] for tenant in demo["tenants"])
    scopes = Counter(key["scope"] for key in demo["api_keys"])

    assert demo["api_url"] == runtime.api_url
    assert demo["aws_endpoint_url"] == runtime.aws_endpoint_url
    assert demo["table_name"] == runtime.table_name
    assert kinds == {"partner": 2, "organization": 4, "workspace": 8}
    assert scopes == kinds
    assert {key["scope_id"] for key in demo["api_keys"]} == {tenant["id"] for tenant in demo["tenants"]}
    assert all(key["key"].startswith("gsk_") for key in demo["api_keys"])


def test_moto_holds_the_stack_resources_and_resolves_the_functions_environment(runtime: LocalRuntime) -> None:
    # The table as the template defines it (indexes and stream), created by moto's CloudFormation
    table = client("dynamodb").describe_table(TableName=runtime.table_name)["Table"]
    indexes = {index["IndexName"]: index["KeySchema"] for index in table["GlobalSecondaryIndexes"]}
    for definition in schema.GLOBAL_INDEXES:
        assert indexes[definition.name] == [
            *({"AttributeName": name, "KeyType": "HASH"} for name in definition.partition_keys),
            *({"AttributeName": name, "KeyType": "RANGE"} for name in definition.sort_keys),
        ]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": schema.STREAM_VIEW}
    # and the API function's references resolved to the local resources
    environment = runtime._functions.environment(runtime.template.api_function_id)
    assert environment["TABLE_NAME"] == runtime.table_name
    assert client("secretsmanager").get_secret_value(SecretId=environment["CURSOR_SECRET_ARN"])["SecretString"]


def test_spec_requeue_flow(api: httpx.Client, demo: dict[str, Any]) -> None:
    # Given a skipped job listed with a workspace key
    key = _key(demo, "workspace", 1)
    listed = api.get("/api/v1/jobs", params={"status": "skipped"}, headers=_bearer(key))
    job_id = int(listed.json()["jobs"][0]["job_id"])

    # When it is requeued
    first = api.patch(f"/api/v1/jobs/{job_id}/status", headers=_bearer(key), json={"status": "queued"})
    # and requeued again
    second = api.patch(f"/api/v1/jobs/{job_id}/status", headers=_bearer(key), json={"status": "queued"})

    # Then the first answer is the spec's, the second a 400 problem
    assert first.status_code == 200
    assert first.json() == {
        "job_id": str(job_id),
        "previous_status": "skipped",
        "new_status": "queued",
        "message": (
            "Job requeued successfully (requeue #1). Job will be re-validated against current processing filters."
        ),
    }
    assert first.json()["message"] == requeue_message(1)
    assert second.status_code == 400
    assert second.headers["content-type"] == "application/problem+json"
    assert second.json()["code"] == "job_not_skipped"
    job = api.get(f"/api/v1/jobs/{job_id}", headers=_bearer(key)).json()
    assert job["source_metadata"]["requeue_count"] == 1
    assert job["source_metadata"]["last_requeued_by"] == "workspace"


def test_missing_and_unknown_keys_get_the_same_401_problem(api: httpx.Client) -> None:
    missing = api.get("/api/v1/jobs")
    unknown = api.get("/api/v1/jobs", headers={"Authorization": "Bearer gsk_not-a-real-key"})

    assert missing.status_code == unknown.status_code == 401
    assert missing.json() == unknown.json()
    assert missing.json()["code"] == "unauthorized"
    assert missing.headers["content-type"] == "application/problem+json"


def test_unknown_route_is_a_404_problem(api: httpx.Client, demo: dict[str, Any]) -> None:
    response = api.get("/api/v1/nothing-here", headers=_bearer(_key(demo, "partner")))

    assert response.status_code == 404
    assert response.json()["code"] == "route_not_found"
    assert "instance" not in response.json()  # the gateway answers it, and never copies the path


def test_foreign_workspace_is_forbidden(api: httpx.Client, demo: dict[str, Any]) -> None:
    # Given a workspace key and a job of another partner's workspace
    key = _key(demo, "workspace")
    other_partner = _key(demo, "partner", 1)
    foreign_workspace = _workspaces_of(demo, other_partner["scope_id"])[0]
    foreign_job = api.get(
        "/api/v1/jobs", params={"status": "skipped", "workspace_id": foreign_workspace}, headers=_bearer(other_partner)
    ).json()["jobs"][0]

    # When the workspace key lists that workspace or requeues the job
    listing = api.get("/api/v1/jobs", params={"workspace_id": foreign_workspace}, headers=_bearer(key))
    requeue = api.patch(f"/api/v1/jobs/{foreign_job['job_id']}/status", headers=_bearer(key), json={"status": "queued"})

    # Then both are refused with 403 problems
    assert (listing.status_code, listing.json()["code"]) == (403, "forbidden")
    assert (requeue.status_code, requeue.json()["code"]) == (403, "forbidden")


def _python_blocks(markdown_file: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown_file.read_text(), re.DOTALL)


def _readme_example() -> str:
    return next(block for block in _python_blocks(ROOT / "README.md") if "def bulk_requeue_skipped" in block)


def test_readme_python_is_the_spec_s_with_only_the_base_url_changed() -> None:
    spec = _python_blocks(ROOT / "docs" / "job-requeue-api.md")
    requeue = next(block for block in spec if "def requeue_job" in block)
    bulk = next(block for block in spec if "def bulk_requeue_skipped" in block)
    # The spec's usage lines (a top-level await) are not part of the functions.
    functions = [requeue[: requeue.index("# Usage")], bulk]

    for function in functions:
        assert function.replace(SPEC_BASE_URL, LOCAL_BASE_URL).strip() in _readme_example()


def test_readme_python_example_requeues_a_workspace_s_skipped_jobs(
    runtime: LocalRuntime, demo: dict[str, Any], tmp_path: Path
) -> None:
    # Given the README's example, pointed at this runtime and at a demo file holding one workspace's key
    partner = _key(demo, "partner", 1)
    workspace_id = _workspaces_of(demo, partner["scope_id"])[1]
    key = next(key for key in demo["api_keys"] if key["scope"] == "workspace" and key["scope_id"] == workspace_id)
    demo_file = tmp_path / "demo.json"
    demo_file.write_text(json.dumps({**demo, "api_keys": [key]}))
    script = _readme_example().replace(LOCAL_BASE_URL, runtime.api_url).replace(".local/demo.json", str(demo_file))

    # When it runs in its own interpreter
    completed = subprocess.run(  # noqa: S603 - this interpreter running the README's example
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )

    # Then every skipped job of the workspace is requeued, each with the spec's message
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert len(lines) >= 3
    for line in lines:
        assert re.fullmatch(rf"Job \d+ requeued: {re.escape(requeue_message(1))}", line), line


def test_swagger_ui_is_served_without_a_cdn(api: httpx.Client, runtime: LocalRuntime) -> None:
    assert runtime.docs_url is not None

    response = api.get(runtime.docs_url)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "SwaggerUIBundle" in response.text
    assert 'src="http' not in response.text
    # the page shows the API's own document: 400 problems, never Powertools' default 422
    assert '"Gensail Jobs API"' in response.text
    assert "HTTPValidationError" not in response.text


def test_aws_backend_is_reachable_from_another_process(runtime: LocalRuntime) -> None:
    # The operator CLI runs in its own process and finds the data through the moto server's URL.
    script = (
        "import sys, boto3\n"
        "db = boto3.client('dynamodb', endpoint_url=sys.argv[1], region_name='us-east-1',"
        " aws_access_key_id='local', aws_secret_access_key='local')\n"
        "print(db.scan(TableName=sys.argv[2], Select='COUNT')['Count'])\n"
    )
    completed = subprocess.run(  # noqa: S603 - this interpreter running a fixed script
        [sys.executable, "-c", script, runtime.aws_endpoint_url, runtime.table_name],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert int(completed.stdout) >= 8 * 24
