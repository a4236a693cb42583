"""Read-your-writes: with the deployed 60 s config cache, a job requeued right after a filter change through the
API is checked against that change, every time; jobs that were not requeued keep using the cache."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from functions.worker import handler as worker
from infra.local import moto_hooks as moto_transactions
from shared.aws import client
from shared.aws import client as aws_client
from shared.config import hierarchy
from shared.jobs.models import JobStatus
from shared.jobs.repository import JobRepository
from tests.conftest import Tenants
from tests.integration.api.conftest import ApiCall
from tests.integration.processing.conftest import Deliver, executions, record_for
from tests.support.aws import TABLE_NAME
from tests.support.factories import make_job, store_job, store_jobs

ROUNDS = 200
DURATION = 20  # seconds: passes a minimum of 10, fails one of 30
CONFIG = "/api/v1/config/workspaces/ws_000"


class _StoppedCacheClock:
    """The config cache's clock, stopped: however slow the machine, every round falls in one 60 s cache window
    (a cache that expired would refill from SSM, which the test counts). Wall time, which orders a requeue after
    the cache's fill, runs on."""

    def __init__(self) -> None:
        self._now = time.monotonic()

    def monotonic(self) -> float:
        return self._now

    @staticmethod
    def time() -> float:
        return time.time()


@pytest.fixture
def deployed_cache(monkeypatch: pytest.MonkeyPatch, state_machine: str) -> Iterator[str]:
    monkeypatch.setenv("CONFIG_CACHE_SECONDS", "60")
    monkeypatch.setattr(hierarchy, "time", _StoppedCacheClock())
    worker._intake.cache_clear()
    # moto copies the whole table for each transaction (a config change is one); the local runtime's cheaper
    # rollback keeps the 200 rounds quick.
    moto_transactions.install()
    yield state_machine
    moto_transactions.uninstall()


def _set_minimum(api: ApiCall, tenants: Tenants, minimum: int) -> None:
    reply = api(
        "PATCH",
        CONFIG,
        tenants.callers["ws_000"],
        {"processing": {"filters": {"min_duration_seconds": minimum}}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert reply.status == 200, reply.body


def _ssm_reads() -> list[str]:
    calls: list[str] = []
    client("ssm").meta.events.register("before-call.ssm.GetParameters", lambda **_: calls.append("GetParameters"))
    return calls


def _head_reads() -> list[str]:
    """The worker's reads of config heads (nothing else here calls BatchGetItem)."""
    calls: list[str] = []
    client("dynamodb").meta.events.register(
        "before-call.dynamodb.BatchGetItem", lambda **_: calls.append("BatchGetItem")
    )
    return calls


@pytest.mark.slow
def test_a_requeue_right_after_a_change_is_checked_against_it_200_times_out_of_200(
    api: ApiCall, tenants: Tenants, deliver: Deliver, deployed_cache: str
) -> None:
    # Given the worker's config cache filled (60 s) by a first job, and 200 skipped 20 s calls
    workspace = tenants.workspace(0)
    jobs = JobRepository(TABLE_NAME, aws_client("dynamodb"))
    deliver([record_for(store_job(workspace, status=JobStatus.QUEUED, duration=DURATION))])
    skipped = store_jobs([make_job(workspace, duration=DURATION) for _ in range(ROUNDS)])
    reads = _ssm_reads()
    heads = _head_reads()
    outcomes = []

    for round_, job in enumerate(skipped):
        # When the minimum alternates between 10 (pass) and 30 (skip) and the job is requeued right after
        minimum = 10 if round_ % 2 == 0 else 30
        _set_minimum(api, tenants, minimum)
        requeue = api("PATCH", f"/api/v1/jobs/{job.job_id}/status", tenants.callers["ws_000"], {"status": "queued"})
        assert requeue.status == 200
        requeued = jobs.get(job.job_id)
        assert requeued is not None
        assert deliver([record_for(requeued)]) == {"batchItemFailures": []}
        after = jobs.get(job.job_id)
        assert after is not None
        expected = JobStatus.QUEUED if minimum == 10 else JobStatus.SKIPPED  # a started run leaves it queued
        outcomes.append(after.status is expected)

    # Then every job was checked against the value set just before its requeue
    assert outcomes.count(True) == ROUNDS
    assert len(executions(deployed_cache)) == ROUNDS // 2  # the first job was skipped under the default 30 s
    # And the worker read the config heads once per requeue after a change, and SSM never
    assert len(heads) == ROUNDS
    assert reads == []


def test_jobs_not_requeued_use_the_cached_config(
    api: ApiCall, tenants: Tenants, deliver: Deliver, deployed_cache: str
) -> None:
    # Given the worker's cache filled under the default minimum of 30 s
    workspace = tenants.workspace(0)
    deliver([record_for(store_job(workspace, status=JobStatus.QUEUED, duration=5))])
    reads = _ssm_reads()
    heads = _head_reads()

    # When the minimum drops to 10 and a new 20 s call arrives (not a requeue)
    _set_minimum(api, tenants, 10)
    fresh = store_job(workspace, status=JobStatus.QUEUED, duration=DURATION)
    deliver([record_for(fresh)])

    # Then it is checked against the cached 30 s (the cache is really in use), with no read at all
    stored = JobRepository(TABLE_NAME, aws_client("dynamodb")).get(fresh.job_id)
    assert stored is not None
    assert stored.skipped_reason == f"duration_below_minimum:{DURATION}<30"
    assert reads == []
    assert heads == []


def test_one_read_serves_a_batch_of_jobs_requeued_after_a_change(
    api: ApiCall, tenants: Tenants, deliver: Deliver, deployed_cache: str
) -> None:
    # Given a warm cache, then a lower minimum and fifty requeued 20 s calls
    workspace = tenants.workspace(0)
    deliver([record_for(store_job(workspace, status=JobStatus.QUEUED, duration=5))])
    _set_minimum(api, tenants, 10)
    jobs = store_jobs([make_job(workspace, duration=DURATION) for _ in range(50)])
    for job in jobs:
        api("PATCH", f"/api/v1/jobs/{job.job_id}/status", tenants.callers["ws_000"], {"status": "queued"})
    requeued = [JobRepository(TABLE_NAME, aws_client("dynamodb")).get(job.job_id) for job in jobs]
    reads = _ssm_reads()
    heads = _head_reads()

    # When the worker gets them in one batch
    deliver([record_for(job, sequence=index) for index, job in enumerate(requeued) if job is not None])

    # Then all of them pass, after a single read of the config heads and none of SSM
    assert len(executions(deployed_cache)) == 50
    assert heads == ["BatchGetItem"]
    assert reads == []
