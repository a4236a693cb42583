"""Requeue batch figures on the local runtime (the synthesized app, moto server, functions in-process):

- the spec's client loop (list every page of skipped jobs, then ``PATCH`` each, one at a time) against one requeue
  batch (``POST /api/v1/requeue-batches``, then until it has finished), each over ``BENCH_BATCH_JOBS`` (10,000)
  skipped jobs of one workspace through the local API, with the partner's throttle set high;
- AWS requests per requeued job made by the batch (its starter and its state machine's tasks);
- the rate achieved at the default throttle (50 jobs per second), over ``BENCH_BATCH_RATE_JOBS`` (2,000) jobs, and
  at a setting the local backend can sustain (``BENCH_BATCH_LOW_RATE``, 10 per second, over 30 seconds of jobs).

moto's server serves one request at a time, and each figure says how long it was busy, per operation. Every
requeue, the PATCH's or the batch's, is the same conditional ``UpdateItem`` (8-10 ms of moto's time here), and the
worker re-checks each requeued job with a write of its own beside it: those writes set both times, so the batch's
own requests bound its speedup on this backend (``batch_speedup_bound_on_this_backend``), and they cap the rate any
setting can reach locally.

The jobs are skipped as too short and stay too short, so the worker skips each requeued job again (no pipeline
runs): both ways pay the same stream and worker load.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from infra.local.runtime import LocalRuntime, start
from infra.local.synth import synthesize
from shared.access import ScopeKind
from shared.auth.keys import ApiKeyRepository
from shared.aws import client as aws_client
from shared.batches.completion import BatchAnnouncer, BatchFinisher
from shared.batches.models import RequeueBatch
from shared.batches.runner import BatchRunner
from shared.clock import parse_timestamp
from shared.config.hierarchy import ConfigLevel, ConfigStore, set_path
from shared.jobs.repository import JobRepository, job_item
from shared.tenants.registry import TenantRegistry, Workspace
from tests.support.batches import stored_batch
from tests.support.factories import make_job

JOBS = int(os.environ.get("BENCH_BATCH_JOBS", "10000"))
RATE_JOBS = int(os.environ.get("BENCH_BATCH_RATE_JOBS", "2000"))
LOW_RATE = int(os.environ.get("BENCH_BATCH_LOW_RATE", "10"))
HIGH_RATE = 10_000
DEFAULT_RATE = 50
BATCH_TIMEOUT_SECONDS = 1800
_WRITE_CHUNK = 25  # BatchWriteItem's limit
_BATCH_HEADER = "X-Bench-Batch"  # marks the AWS requests the batch's own code makes


def _tenants(runtime: LocalRuntime, partner: str, workspaces: list[str]) -> list[Workspace]:
    registry = TenantRegistry(runtime.table_name, aws_client("dynamodb"))
    registry.create_partner(f"Bench {partner}", f"ptn_{partner}")
    registry.create_organization(f"ptn_{partner}", "Bench organization", f"org_{partner}")
    return [registry.create_workspace(f"org_{partner}", f"Bench {name}", f"ws_{name}") for name in workspaces]


def _seed_skipped(runtime: LocalRuntime, workspace: Workspace, count: int) -> None:
    """``count`` jobs skipped as too short (5 s), written 25 at a time."""
    db = aws_client("dynamodb")
    items = [job_item(make_job(workspace, duration=5, minutes_ago=index % 600)) for index in range(count)]
    for start_at in range(0, len(items), _WRITE_CHUNK):
        request = {runtime.table_name: [{"PutRequest": {"Item": item}} for item in items[start_at : start_at + 25]]}
        while request:
            request = db.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}


def _client_loop(api: httpx.Client, key: str, workspace_id: str) -> tuple[int, int]:
    """The spec's bulk requeue, extended to every page (as written it requeues only the first 50); returns the jobs
    requeued and the HTTP requests it made."""
    headers = {"Authorization": f"Bearer {key}"}
    jobs: list[dict[str, Any]] = []
    params: dict[str, str] = {"status": "skipped", "workspace_id": workspace_id}
    listed = 0
    while True:
        listed += 1
        response = api.get("/api/v1/jobs", headers=headers, params=params)
        response.raise_for_status()
        page = response.json()
        jobs.extend(page["jobs"])
        if not page.get("next_cursor"):
            break
        params = {**params, "cursor": page["next_cursor"]}
    requeued = 0
    for job in jobs:
        answer = api.patch(f"/api/v1/jobs/{int(job['job_id'])}/status", headers=headers, json={"status": "queued"})
        requeued += answer.status_code == 200
    return requeued, len(jobs) + listed


def _create_batch(runtime: LocalRuntime, key: str, workspace: Workspace, **body: Any) -> RequeueBatch:
    """``POST /api/v1/requeue-batches`` through the local API; the batch as stored."""
    with httpx.Client(base_url=runtime.api_url, timeout=30) as api:
        response = api.post(
            "/api/v1/requeue-batches",
            headers={"Authorization": f"Bearer {key}"},
            json={"workspace_ids": [workspace.workspace_id], **body},
        )
    response.raise_for_status()
    return stored_batch(response.json()["batch_id"], runtime.table_name)


def _key(runtime: LocalRuntime, workspace: Workspace) -> str:
    key, _ = ApiKeyRepository(runtime.table_name, aws_client("dynamodb")).create(
        ScopeKind.WORKSPACE, workspace.workspace_id, "bench", tenant_exists=True
    )
    return key


def _wait_finished(runtime: LocalRuntime, batch: RequeueBatch) -> RequeueBatch:
    deadline = time.monotonic() + BATCH_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        current = stored_batch(batch.batch_id, runtime.table_name)
        if current.finished:
            return current
        time.sleep(0.5)  # each look is a request to the backend the batch is using
    raise TimeoutError(f"batch {batch.batch_id} did not finish in {BATCH_TIMEOUT_SECONDS} s")


@contextmanager
def _batch_requests() -> Iterator[Counter[str]]:
    """Counts the AWS requests the batch's own code makes (its start and its state machine's tasks, in whatever
    thread they run), not the worker's or the stream poller's alongside."""
    from botocore.client import BaseClient

    from functions.batches import starter

    marked = threading.local()
    calls: Counter[str] = Counter()
    patched: list[tuple[Any, str, Any]] = []

    def mark(owner: Any, name: str) -> None:
        original = getattr(owner, name)

        def inside(*args: Any, **kwargs: Any) -> Any:
            marked.on = True
            try:
                return original(*args, **kwargs)
            finally:
                marked.on = False

        patched.append((owner, name, original))
        setattr(owner, name, inside)

    def tag(request: Any, **_: Any) -> None:
        if getattr(marked, "on", False):
            request.headers[_BATCH_HEADER] = "1"

    tagged: set[int] = set()

    def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
        if id(client) not in tagged:
            tagged.add(id(client))
            client.meta.events.register("before-send", tag)
        if getattr(marked, "on", False):
            calls[f"{client.meta.service_model.service_name}.{operation}"] += 1
        return make_api_call(client, operation, params)

    make_api_call = BaseClient._make_api_call
    for owner, name in (
        (BatchRunner, "run_page"),
        (BatchFinisher, "finish"),
        (BatchAnnouncer, "announce"),
        (starter, "start_once"),
    ):
        mark(owner, name)
    BaseClient._make_api_call = counted
    try:
        yield calls
    finally:
        BaseClient._make_api_call = make_api_call
        for owner, name, original in patched:
            setattr(owner, name, original)


@contextmanager
def _backend_time() -> Iterator[dict[str, list[float]]]:
    """How long moto's server is busy, per operation: ``{"batch " or "": op -> [requests, seconds]}`` where
    ``"batch "`` marks the requests the batch's own code made (see :func:`_batch_requests`). moto serves one request
    at a time, so this is time nothing else could use it."""
    from infra.local.backend import SerializedApp

    busy: dict[str, list[float]] = {}
    serve = SerializedApp.serve

    def timed(app: SerializedApp, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        started = time.perf_counter()
        body = serve(app, environ, start_response)  # under moto's lock: only the request's own turn is timed
        seconds = time.perf_counter() - started
        operation = str(environ.get("HTTP_X_AMZ_TARGET") or environ.get("REQUEST_METHOD", "")).rpartition(".")[2]
        kind = "batch " if environ.get("HTTP_" + _BATCH_HEADER.upper().replace("-", "_")) else ""
        entry = busy.setdefault(kind + operation, [0, 0.0])
        entry[0] += 1
        entry[1] += seconds
        return body

    SerializedApp.serve = timed  # type: ignore[method-assign,assignment]
    try:
        yield busy
    finally:
        SerializedApp.serve = serve  # type: ignore[method-assign]


def _busy(busy: dict[str, list[float]], prefix: str = "") -> float:
    return sum(seconds for name, (_, seconds) in busy.items() if name.startswith(prefix))


def _settle(busy: dict[str, list[float]], window: float = 2.0, limit: float = 600.0) -> None:
    """Wait (at most ``limit`` seconds) until moto was busy less than a tenth of a ``window``: the pollers and the
    worker have caught up with what came before."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = _busy(busy)
        time.sleep(window)
        if _busy(busy) - before < window / 10:
            return


def _measured(busy: dict[str, list[float]], action: Callable[[], Any]) -> tuple[Any, float, dict[str, list[float]]]:
    """Once moto has caught up with what came before, ``action()``'s result, its seconds and moto's busy time
    during it, per operation."""
    _settle(busy)
    busy.clear()
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started, {name: list(entry) for name, entry in busy.items()}


def batch_figures() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gensail-bench-") as folder:
        template = synthesize(Path(folder) / "cdk.out")
        runtime = start(port=0, template_path=template, demo_file=Path(folder) / "demo.json", callrail_sample=False)
        try:
            return _figures(runtime)
        finally:
            runtime.stop()


def _figures(runtime: LocalRuntime) -> dict[str, Any]:
    loop_ws, batch_ws = _tenants(runtime, "fast", ["loop", "batch"])
    (rate_ws,) = _tenants(runtime, "steady", ["steady"])
    (low_ws,) = _tenants(runtime, "slow", ["slow"])
    config = ConfigStore(runtime.config_prefix, aws_client("ssm"))
    config.write_document(ConfigLevel.PARTNER, "ptn_fast", set_path({}, "requeue.max_jobs_per_second", HIGH_RATE))
    key, _ = ApiKeyRepository(runtime.table_name, aws_client("dynamodb")).create(
        ScopeKind.ORGANIZATION, "org_fast", "bench", tenant_exists=True
    )
    with _backend_time() as busy:
        # The rates first, in a table without the comparison's 20,000 jobs: moto's Query reads the whole table
        # (DynamoDB's reads the workspace's jobs only), which would slow each page down by the table's size.
        for workspace, count in ((rate_ws, RATE_JOBS), (low_ws, LOW_RATE * 30)):
            _seed_skipped(runtime, workspace, count)
        _settle(busy)
        default_rate = _rate(runtime, rate_ws, DEFAULT_RATE)
        _settle(busy)
        low_rate = _rate(runtime, low_ws, LOW_RATE)
        for workspace in (loop_ws, batch_ws):
            _seed_skipped(runtime, workspace, JOBS)
        with httpx.Client(base_url=runtime.api_url, timeout=30) as api:
            (looped, http_requests), loop_seconds, loop_busy = _measured(
                busy, lambda: _client_loop(api, key, loop_ws.workspace_id)
            )
        with _batch_requests() as calls:
            # as the client loop: every skipped job, not only those that pass the filters
            fast, batch_seconds, batch_busy = _measured(
                busy, lambda: _wait_finished(runtime, _create_batch(runtime, key, batch_ws, only_passing=False))
            )
    requests = sum(calls.values())
    own = _busy(batch_busy, "batch ")
    return {
        "jobs": JOBS,
        "client_loop": {
            "requeued": looped,
            "seconds": round(loop_seconds, 1),
            "http_requests": http_requests,
            "backend_busy_seconds": round(_busy(loop_busy), 1),
        },
        "batch": {
            "requeued": fast.counts.requeued,
            "seconds": round(batch_seconds, 1),
            "status": fast.status.value,
            "http_requests": 1,
            "backend_busy_seconds": round(_busy(batch_busy), 1),
            "backend_seconds_of_its_own_requests": round(own, 1),
        },
        "batch_speedup": round(loop_seconds / batch_seconds, 1),
        # Even if nothing but the batch's own requests (each requeue the same conditional write as the PATCH) used
        # the backend, the batch could not finish before moto had served them: this bounds the speedup here.
        "batch_speedup_bound_on_this_backend": round(loop_seconds / own, 1) if own else None,
        "backend_busy_by_operation": {
            arm: {name: [int(count), round(seconds, 2)] for name, (count, seconds) in sorted(figures.items())}
            for arm, figures in (("client_loop", loop_busy), ("batch", batch_busy))
        },
        "batch_aws_requests": dict(sorted(calls.items())),
        "batch_aws_requests_per_requeued_job": round(requests / max(fast.counts.requeued, 1), 3),
        "rate_at_default_setting": default_rate,
        "rate_at_low_setting": low_rate,
        "note": "local runtime on moto, which serves one request at a time: every requeue is the same conditional "
        "UpdateItem either way, and the worker re-checks each requeued job beside it, so moto's time for those writes "
        "sets both times and caps the rate any setting can reach locally; backend_busy_by_operation is "
        "[requests, seconds] per operation ('batch ': the batch's own); the low setting shows the throttle where the "
        "backend keeps up",
    }


def _rate(runtime: LocalRuntime, workspace: Workspace, setting: int) -> dict[str, Any]:
    """Requeue the workspace's skipped jobs in one batch at ``setting`` jobs per second (its partner's config)."""
    if setting != DEFAULT_RATE:
        ConfigStore(runtime.config_prefix, aws_client("ssm")).write_document(
            ConfigLevel.PARTNER, workspace.partner_id, set_path({}, "requeue.max_jobs_per_second", setting)
        )
    batch = _create_batch(runtime, _key(runtime, workspace), workspace, only_passing=False)
    done = _wait_finished(runtime, batch)
    # Each page stamps its jobs with the moment it began; the rate is the jobs of every page but the last over the
    # time from the first page's start to the last one's (the last page's own slot ends after the batch does).
    pages = Counter(_requeue_times(runtime, workspace, batch.batch_id))
    starts = sorted(pages)
    span = (parse_timestamp(starts[-1]) - parse_timestamp(starts[0])).total_seconds()
    before_last = sum(pages.values()) - pages[starts[-1]]
    achieved = before_last / span if span else 0.0
    return {
        "setting": setting,
        "jobs": done.counts.requeued,
        "pages": len(starts),
        "seconds_first_to_last_page": round(span, 1),
        "jobs_per_second": round(achieved, 1),
        "within_10_percent": abs(achieved - setting) <= setting / 10,
    }


def _requeue_times(runtime: LocalRuntime, workspace: Workspace, batch_id: str) -> list[str]:
    """``last_requeued_at`` of every job of the workspace that ``batch_id`` requeued."""
    jobs = JobRepository(runtime.table_name, aws_client("dynamodb"))
    times: list[str] = []
    start_key = None
    while True:
        page = jobs.list_jobs(workspace.workspace_id, None, 1000, start_key)
        times.extend(
            str(job.source_metadata["last_requeued_at"])
            for job in page.jobs
            if job.source_metadata.get("last_requeued_batch") == batch_id
        )
        if not page.last_key:
            return times
        start_key = page.last_key
