"""Smoke test of a deployed stack or the local runtime: the spec's curl flow over HTTPS, checked word for word.

    python -m infra.smoke --stack NAME      # a deployed stack's outputs, with the caller's AWS credentials
    python -m infra.smoke --local           # the local runtime (``make run``), from .local/demo.json

It works in tenants of its own (partner ``ptn_smoke``, workspaces ``ws_smoke`` and ``ws_smoke_other``, created
once), so no customer's job is touched. Each run stores two new ``skipped`` jobs (``source`` ``smoke``, reason
``skip_all_on_ingest``, as the poller would) and a workspace key, through the repositories the admin command
uses; then it lists the skipped jobs, requeues one and checks the spec's response body word for word, checks that
a second requeue answers 400 ``job_not_skipped`` and the 400/401/403/404 problem bodies, and follows the job
until it is skipped again or completed. The key is revoked at the end. Every step is printed; the exit status is
0 when all passed, 1 on the first deviation, 2 when the target cannot be resolved.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from botocore.exceptions import BotoCoreError, ClientError

from infra.admin.cli import DEFAULT_LOCAL_STATE, local_target, stack_target, use_target
from infra.admin.services import Services
from infra.naming import OUTPUT_API_URL
from shared import schema
from shared.access import ScopeKind
from shared.aws import client
from shared.clock import format_timestamp
from shared.errors import DomainError
from shared.jobs.ids import new_job_id
from shared.jobs.models import Job, JobEvent, JobStatus, SkipReason
from shared.jobs.repository import JobRepository
from shared.problems import PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE, PROBLEMS
from shared.tenants.registry import Workspace

DESCRIPTION = "Smoke test of a deployed stack or the local runtime: the spec's curl flow, checked word for word."
JOBS = "/api/v1/jobs"
# The spec's response message, word for word (docs/job-requeue-api.md).
SPEC_MESSAGE = (
    "Job requeued successfully (requeue #{count}). Job will be re-validated against current processing filters."
)
PARTNER, ORGANIZATION = "ptn_smoke", "org_smoke"
WORKSPACE, OTHER_WORKSPACE = "ws_smoke", "ws_smoke_other"
SOURCE = "smoke"
# Long enough for the default filters, and with a transcript, so the job can go on to completed.
DURATION_SECONDS = 300
TRANSCRIPT = "Agent: Thanks for calling. Customer: I would like to book an appointment next week, please."
FINAL = {JobStatus.COMPLETED, JobStatus.SKIPPED}


class Deviation(Exception):
    """The API answered something other than what the spec and the README promise."""


@dataclass(frozen=True)
class SmokeTarget:
    """The API's base URL and the admin target (table) behind it."""

    api_url: str
    services: Services


def resolve(args: argparse.Namespace) -> SmokeTarget:
    """The API URL and table of ``--local`` (demo.json) or ``--stack`` (CloudFormation outputs)."""
    if args.local:
        state_file = Path(args.local_state)
        admin = local_target(state_file)
        api_url = str(json.loads(state_file.read_text())["api_url"])
    else:
        cloudformation = client("cloudformation")
        admin = stack_target(args.stack, cloudformation)
        outputs = cloudformation.describe_stacks(StackName=args.stack)["Stacks"][0].get("Outputs", [])
        urls = [output["OutputValue"] for output in outputs if output["OutputKey"] == OUTPUT_API_URL]
        if not urls:
            raise Deviation(f"Stack {args.stack!r} has no output {OUTPUT_API_URL}.")
        api_url = urls[0]
    use_target(admin)
    return SmokeTarget(api_url=api_url.rstrip("/"), services=Services(admin))


# --- what the run works on ------------------------------------------------------------------------------------


def smoke_workspaces(services: Services) -> tuple[Workspace, Workspace]:
    """The smoke tenants, created on the first run and reused after."""
    registry = services.tenants
    if not registry.exists(schema.Entity.PARTNER, PARTNER):
        registry.create_partner("Smoke tests", partner_id=PARTNER)
    if not registry.exists(schema.Entity.ORGANIZATION, ORGANIZATION):
        registry.create_organization(PARTNER, "Smoke tests", organization_id=ORGANIZATION)
    workspaces = []
    for workspace_id in (WORKSPACE, OTHER_WORKSPACE):
        workspace = registry.get_workspace(workspace_id)
        if workspace is None:
            workspace = registry.create_workspace(ORGANIZATION, f"Smoke tests ({workspace_id})", workspace_id)
        workspaces.append(workspace)
    return workspaces[0], workspaces[1]


def skipped_job(workspace: Workspace) -> Job:
    """A call ingested as ``skipped`` (``skip_all_on_ingest``), as the poller stores one."""
    now = datetime.now(UTC)
    stamp = format_timestamp(now)
    return Job(
        job_id=new_job_id(now),
        **workspace.path.model_dump(),
        status=JobStatus.SKIPPED,
        skipped_reason=SkipReason.SKIP_ALL_ON_INGEST,
        skipped_at=stamp,
        created_at=stamp,
        updated_at=stamp,
        source=SOURCE,
        source_id=f"smoke-{now.timestamp():.0f}",
        duration_seconds=DURATION_SECONDS,
        source_metadata={"answered": True, "direction": "inbound", "transcription": TRANSCRIPT},
        history=[JobEvent(status=JobStatus.SKIPPED, at=stamp, cause=f"smoke test: {SkipReason.SKIP_ALL_ON_INGEST}")],
    )


@contextmanager
def workspace_key(services: Services, workspace: Workspace, say: Callable[[str], None]) -> Iterator[str]:
    """A new key of ``workspace`` for the run, revoked when the run ends however it ends."""
    key, record = services.keys.create(ScopeKind.WORKSPACE, workspace.workspace_id, "smoke test", tenant_exists=True)
    say(f"created key {record.key_id} for workspace {workspace.workspace_id}")
    try:
        yield key
    finally:
        services.keys.revoke(record.key_id)
        say(f"revoked key {record.key_id}")


# --- checks ---------------------------------------------------------------------------------------------------


def expect_json(response: httpx.Response, status: int) -> Any:
    if response.status_code != status:
        raise Deviation(f"expected HTTP {status}, got {response.status_code}: {response.text[:500]}")
    try:
        return response.json()
    except ValueError:
        raise Deviation(f"the body is not JSON: {response.text[:500]}") from None


def expect_problem(response: httpx.Response, code: str) -> dict[str, Any]:
    """An RFC 9457 problem with the catalogue's status, title and type for ``code``."""
    status, title = PROBLEMS[code]
    body = expect_json(response, status)
    content_type = response.headers.get("content-type", "").split(";")[0].strip()
    if content_type != PROBLEM_CONTENT_TYPE:
        raise Deviation(f"expected Content-Type {PROBLEM_CONTENT_TYPE}, got {content_type!r}")
    expected = {"type": PROBLEM_TYPE_BASE + code, "title": title, "status": status, "code": code}
    actual = {name: body.get(name) for name in expected}
    if actual != expected or not isinstance(body.get("detail"), str) or not body["detail"]:
        raise Deviation(f"expected a {code} problem {expected} with a detail, got {body}")
    return dict(body)


class SmokeRun:
    """The flow's steps against one API, each printed as it passes; the first deviation stops the run."""

    def __init__(self, api: httpx.Client, key: str, say: Callable[[str], None], timeout: float) -> None:
        self.api = api
        self.auth = {"Authorization": f"Bearer {key}"}
        self.say = say
        self.timeout = timeout
        self.step = 0

    def check(self, description: str, action: Callable[[], object]) -> None:
        """Run one step; a text it returns is printed beside the step."""
        self.step += 1
        try:
            result = action()
        except Deviation as deviation:
            self.say(f"[{self.step}] FAIL {description}: {deviation}")
            raise
        note = f" ({result})" if isinstance(result, str) else ""
        self.say(f"[{self.step}] ok   {description}{note}")

    def requeue(self, job_id: str, status: str = "queued", headers: dict[str, str] | None = None) -> httpx.Response:
        return self.api.patch(
            f"{JOBS}/{job_id}/status", headers=self.auth if headers is None else headers, json={"status": status}
        )

    def run(self, job: Job, other_job: Job) -> None:
        job_id = job.job_id

        def listed() -> str:
            query = {"status": "skipped", "workspace_id": job.workspace_id}
            jobs = expect_json(self.api.get(JOBS, headers=self.auth, params=query), 200)["jobs"]
            if any(listed["status"] != "skipped" for listed in jobs):
                raise Deviation(f"a job that is not skipped was listed: {jobs}")
            if job_id not in [listed["job_id"] for listed in jobs]:
                raise Deviation(f"job {job_id} is not among the {len(jobs)} skipped jobs listed")
            return f"{len(jobs)} skipped, job {job_id} among them"

        def requeued() -> None:
            body = expect_json(self.requeue(job_id), 200)
            expected = {
                "job_id": job_id,
                "previous_status": "skipped",
                "new_status": "queued",
                "message": SPEC_MESSAGE.format(count=1),
            }
            if body != expected:
                raise Deviation(f"expected the spec's body {expected}, got {body}")

        def not_skipped() -> None:
            expect_problem(self.requeue(job_id), "job_not_skipped")

        self.check("GET /api/v1/jobs?status=skipped with a workspace key lists the skipped job", listed)
        self.check(f"PATCH /api/v1/jobs/{job_id}/status answers the spec's body word for word", requeued)
        self.check("a second requeue answers 400 job_not_skipped", not_skipped)
        self.check(
            "a status other than queued answers 400 invalid_status",
            lambda: expect_problem(self.requeue(job_id, "completed"), "invalid_status"),
        )
        self.check(
            "no API key answers 401 unauthorized",
            lambda: expect_problem(self.api.get(f"{JOBS}/{job_id}"), "unauthorized"),
        )
        bogus = {"Authorization": "Bearer gsk_smoke_unknown_key"}
        self.check(
            "an unknown API key answers 401 unauthorized",
            lambda: expect_problem(self.requeue(job_id, headers=bogus), "unauthorized"),
        )
        self.check(
            "another workspace's job answers 403 forbidden",
            lambda: expect_problem(self.requeue(other_job.job_id), "forbidden"),
        )
        absent = new_job_id()
        self.check(
            "a job that does not exist answers 404 job_not_found",
            lambda: expect_problem(self.requeue(absent), "job_not_found"),
        )
        self.check("the job is re-validated: it ends skipped again or completed", lambda: self.follow(job_id))

    def follow(self, job_id: str) -> str:
        """Poll the job until it is skipped or completed; failed, or still moving at the deadline, is a deviation."""
        deadline = time.monotonic() + self.timeout
        seen: list[str] = []
        while True:
            job = expect_json(self.api.get(f"{JOBS}/{job_id}", headers=self.auth), 200)
            status = job["status"]
            if not seen or seen[-1] != status:
                seen.append(status)
                self.say(f"       job {job_id}: {status}")
            if status in FINAL:
                reason = f", {job['skipped_reason']}" if status == JobStatus.SKIPPED else ""
                return f"{' -> '.join(_since_requeue(job.get('history') or [], seen))}{reason}"
            if status == JobStatus.FAILED:
                raise Deviation(f"the job failed: {job.get('failure')}")
            if time.monotonic() > deadline:
                raise Deviation(f"still {status} after {self.timeout:.0f} s ({' -> '.join(seen)})")
            time.sleep(1)


def _since_requeue(history: list[dict[str, Any]], seen: list[str]) -> list[str]:
    """The job's statuses from its last requeue on, from its own history: polls alone miss the states a fast
    worker passed through between two of them (``seen``, what the polls saw, when the history has no requeue)."""
    statuses = [str(event.get("status")) for event in history]
    if JobStatus.QUEUED not in statuses:
        return seen
    start = len(statuses) - 1 - statuses[::-1].index(JobStatus.QUEUED)
    return statuses[start:]


# --- command line ---------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m infra.smoke", description=DESCRIPTION)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", metavar="NAME", help="a deployed CloudFormation stack (its outputs)")
    where.add_argument("--local", action="store_true", help="the local runtime (reads its demo.json)")
    parser.add_argument("--local-state", metavar="FILE", default=str(DEFAULT_LOCAL_STATE))
    parser.add_argument("--timeout", type=float, default=180, help="seconds to wait for the job to settle (180)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the smoke flow; 0 when every step passed, 1 on a deviation, 2 when the target cannot be resolved."""
    args = build_parser().parse_args(argv)

    def say(line: str) -> None:
        print(line, flush=True)

    try:
        target = resolve(args)
        workspace, other_workspace = smoke_workspaces(target.services)
        jobs = JobRepository(target.services.target.table_name, client("dynamodb"))
        job, other_job = jobs.create(skipped_job(workspace)), jobs.create(skipped_job(other_workspace))
    except (DomainError, Deviation, OSError, KeyError, ClientError, BotoCoreError) as error:
        print(f"error: cannot prepare the smoke run: {error}", file=sys.stderr)
        return 2
    say(f"smoke test of {target.api_url}: job {job.job_id} in {workspace.workspace_id}")
    try:
        with (
            workspace_key(target.services, workspace, say) as key,
            httpx.Client(base_url=target.api_url, timeout=30) as api,
        ):
            SmokeRun(api, key, say, args.timeout).run(job, other_job)
    except Deviation:
        say("smoke test FAILED")
        return 1
    except (httpx.HTTPError, ClientError, BotoCoreError) as error:
        say(f"smoke test FAILED: {error}")
        return 1
    say("smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
