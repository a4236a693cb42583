"""The smoke command (``make smoke``): the spec's flow against the local runtime, and what it calls a deviation."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra import REPO_ROOT
from infra.local.runtime import LocalRuntime
from infra.smoke import SPEC_MESSAGE, Deviation, SmokeRun, _since_requeue, expect_problem, skipped_job
from shared.jobs.models import Job
from shared.problems import PROBLEM_CONTENT_TYPE, problem
from shared.tenants.registry import Workspace
from tests.local.conftest import moto_client

STEPS = 9


def smoke(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - this interpreter running the command under test
        [sys.executable, "-m", "infra.smoke", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.mark.slow
def test_the_smoke_flow_passes_against_the_local_runtime_run_after_run(runtime: LocalRuntime) -> None:
    assert runtime.demo_file is not None
    for _ in range(2):  # the second run reuses the smoke tenants
        result = smoke("--local", "--local-state", str(runtime.demo_file), "--timeout", "120")

        assert result.returncode == 0, result.stdout + result.stderr
        lines = result.stdout.splitlines()
        assert [int(m.group(1)) for line in lines if (m := re.match(r"\[(\d+)\] ok ", line))] == list(
            range(1, STEPS + 1)
        )
        assert any(re.fullmatch(r"revoked key key_\w+", line) for line in lines)
        assert re.search(r"\[9\] ok .*queued -> .*(completed|skipped)", result.stdout)
        assert lines[-1] == "smoke test passed"


@pytest.mark.slow
def test_stack_reads_the_api_url_and_table_from_the_stacks_outputs(runtime: LocalRuntime, demo: dict[str, Any]) -> None:
    # Given a stack whose outputs name the local runtime's API and table, in the runtime's emulated account
    outputs = {"ApiUrl": runtime.api_url + "/", "TableName": demo["table_name"], "ConfigParameterPrefix": "/x"}
    template = {
        "Resources": {"Marker": {"Type": "AWS::SNS::Topic", "Properties": {}}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    cloudformation = moto_client("cloudformation", demo["aws_endpoint_url"])
    cloudformation.create_stack(StackName="SmokeTarget", TemplateBody=json.dumps(template))
    credentials = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}
    endpoint = {"AWS_ENDPOINT_URL": demo["aws_endpoint_url"], "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled"}

    # When the smoke command runs with --stack, AWS credentials from the environment as an operator's would be
    result = smoke("--stack", "SmokeTarget", "--timeout", "120", env={**os.environ, **credentials, **endpoint})

    # Then it found both through the outputs and passed
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"smoke test of {runtime.api_url}: job ")
    assert result.stdout.splitlines()[-1] == "smoke test passed"


def test_an_unknown_target_exits_2(tmp_path: Path) -> None:
    result = smoke("--local", "--local-state", str(tmp_path / "absent.json"))

    assert result.returncode == 2
    assert "cannot prepare the smoke run" in result.stderr


WORKSPACE = Workspace(
    workspace_id="ws_a", organization_id="org_a", partner_id="ptn_a", name="A", created_at="2026-01-01T00:00:00Z"
)


def fake_api(message: str) -> tuple[httpx.Client, Job]:
    """An API that lists the job and answers its requeue with ``message``."""
    job = skipped_job(WORKSPACE)

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"jobs": [{"job_id": job.job_id, "status": "skipped"}]})
        body = {"job_id": job.job_id, "previous_status": "skipped", "new_status": "queued", "message": message}
        return httpx.Response(200, json=body)

    return httpx.Client(base_url="http://api.invalid", transport=httpx.MockTransport(answer)), job


def test_a_message_that_differs_from_the_spec_by_one_word_is_a_deviation() -> None:
    said: list[str] = []
    api, job = fake_api(SPEC_MESSAGE.format(count=1).replace("re-validated", "revalidated"))

    with pytest.raises(Deviation, match="expected the spec's body"):
        SmokeRun(api, "gsk_x", said.append, timeout=1).run(job, job)

    assert said[0].startswith("[1] ok ")
    assert said[1].startswith("[2] FAIL PATCH")


def _problem_response(code: str, content_type: str = PROBLEM_CONTENT_TYPE, **changes: Any) -> httpx.Response:
    body = problem(code, "Something went wrong.").model_dump(exclude_none=True) | changes
    return httpx.Response(body["status"], json=body, headers={"content-type": content_type})


def test_a_problem_with_the_catalogues_fields_passes() -> None:
    assert expect_problem(_problem_response("forbidden"), "forbidden")["code"] == "forbidden"


@pytest.mark.parametrize(
    "response",
    [
        _problem_response("job_not_found"),  # another code
        _problem_response("forbidden", content_type="application/json"),
        _problem_response("forbidden", title="Denied"),
        _problem_response("forbidden", detail=""),
        httpx.Response(403, text="Forbidden"),
    ],
    ids=["other-code", "plain-json", "other-title", "no-detail", "not-json"],
)
def test_anything_else_is_a_deviation(response: httpx.Response) -> None:
    with pytest.raises(Deviation):
        expect_problem(response, "forbidden")


def test_the_followed_path_comes_from_the_jobs_history_since_its_last_requeue() -> None:
    # A fast worker can move the job on before the first poll: the path is read from the job's own history
    history = [
        {"status": status}
        for status in ("queued", "skipped", "queued", "transcribing", "analyzing", "publishing", "completed")
    ]
    assert _since_requeue(history, ["publishing", "completed"]) == [
        "queued",
        "transcribing",
        "analyzing",
        "publishing",
        "completed",
    ]
    # with no requeue in the history, what the polls saw
    assert _since_requeue([], ["skipped"]) == ["skipped"]
