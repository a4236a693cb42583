"""The partner's requeue throttle, on a fake clock: reservations, the rate a batch achieves, batches sharing it."""

from __future__ import annotations

from shared.aws import client as aws_client
from shared.batches.models import RequeueBatch
from shared.batches.runner import BatchRunner
from shared.batches.throttle import EARLY_SECONDS, RequeueThrottle
from shared.config.hierarchy import ConfigLevel
from tests.conftest import Tenants
from tests.integration.batches.conftest import set_config, skipped_jobs
from tests.support.aws import TABLE_NAME
from tests.support.batches import FakeClock, batch_runner, run_to_end, store_batch, stored_batch

T0 = 1_800_000_000.0


def throttle(clock: FakeClock) -> RequeueThrottle:
    return RequeueThrottle(TABLE_NAME, aws_client("dynamodb"), clock)


def test_reservations_follow_each_other_and_start_now_when_the_time_is_free(aws: None) -> None:
    limiter = throttle(FakeClock(T0))
    first = limiter.reserve("ptn_a", 100, 50, started_at=T0)
    second = limiter.reserve("ptn_a", 100, 50, started_at=T0 + 0.5)
    later = limiter.reserve("ptn_a", 10, 50, started_at=T0 + 60)
    other_partner = limiter.reserve("ptn_b", 100, 50, started_at=T0 + 0.5)
    assert (first.start, first.end) == (T0, T0 + 2)
    assert (second.start, second.end) == (T0 + 2, T0 + 4)  # after the first, not from when it asked
    assert (later.start, later.end) == (T0 + 60, T0 + 60.2)  # idle time is not saved up
    assert (other_partner.start, other_partner.end) == (T0 + 0.5, T0 + 2.5)


def test_a_reservation_that_lost_a_race_takes_the_winners_end(aws: None) -> None:
    limiter = throttle(FakeClock(T0))
    limiter.reserve("ptn_a", 100, 50, started_at=T0)
    # a page that read the throttle before that reservation was made still lands after it
    late = limiter.reserve("ptn_a", 50, 50, started_at=T0, known=None)
    assert (late.start, late.end) == (T0 + 2, T0 + 3)
    assert limiter.next_free_at("ptn_a") == T0 + 3


class PageLog(BatchRunner):
    """Records when each page that worked started, on the runner's clock."""

    starts: list[float]

    def _run(self, batch: RequeueBatch, *args: object) -> object:  # type: ignore[override]
        self.starts.append(self.clock())
        return super()._run(batch, *args)  # type: ignore[arg-type]


def logged_runner(clock: FakeClock) -> PageLog:
    runner = batch_runner(clock)
    runner.__class__ = PageLog
    runner.starts = []  # type: ignore[attr-defined]
    return runner  # type: ignore[return-value]


def test_a_batch_requeues_at_the_partners_rate_with_time_spent_working_counted(tenants: Tenants) -> None:
    # Given 400 passing skipped jobs and the platform default of 50 jobs per second
    workspace = tenants.workspace(0)
    skipped_jobs(workspace, [40] * 400)
    batch = store_batch(workspace.partner_id, [workspace.workspace_id])
    clock = FakeClock(T0)
    runner = logged_runner(clock)

    # When the batch runs, each page taking 0.4 s of work on the clock
    real_requeue = runner._requeue

    def slow_requeue(*args: object) -> None:
        real_requeue(*args)  # type: ignore[arg-type]
        clock.advance(0.4)

    runner._requeue = slow_requeue  # type: ignore[method-assign,assignment]
    run_to_end(runner, batch)

    # Then 4 pages of 100 ran 2 s apart (100 jobs at 50/s), never more than a second ahead of their slot
    assert stored_batch(batch.batch_id).counts.requeued == 400
    assert len(runner.starts) == 4
    for index, start in enumerate(runner.starts):
        assert T0 + 2 * index - EARLY_SECONDS <= start <= T0 + 2 * index + EARLY_SECONDS
    # and the partner's time is reserved for exactly 400 jobs at 50/s: 8 s
    assert throttle(clock).next_free_at(workspace.partner_id) == T0 + 8


def test_two_batches_of_one_partner_share_its_rate(tenants: Tenants) -> None:
    first, second = tenants.workspace(0), tenants.workspace(1)  # both of partner ptn_0
    skipped_jobs(first, [40] * 200)
    skipped_jobs(second, [40] * 200)
    batches = [store_batch(ws.partner_id, [ws.workspace_id]) for ws in (first, second)]
    clock = FakeClock(T0)
    runner = batch_runner(clock)
    ready = {batch.batch_id: T0 for batch in batches}
    done: set[str] = set()
    while len(done) < len(batches):
        # the state machines of both batches, each waiting as told
        clock.now = min(at for batch_id, at in ready.items() if batch_id not in done)
        for batch in batches:
            if batch.batch_id not in done and ready[batch.batch_id] <= clock.now:
                result = runner.run_page(batch.batch_id, batch.partner_id)
                ready[batch.batch_id] = clock.now + result.wait_seconds
                if result.done:
                    done.add(batch.batch_id)
    # 400 jobs at 50/s take 8 s whichever batch they belong to
    assert throttle(clock).next_free_at(first.partner_id) == T0 + 8
    assert clock.now >= T0 + 8 - 2 - EARLY_SECONDS  # the last page began within its slot


def test_an_operator_may_raise_a_partners_rate(tenants: Tenants) -> None:
    workspace = tenants.workspace(0)
    set_config(ConfigLevel.PARTNER, workspace.partner_id, "requeue.max_jobs_per_second", 200)
    skipped_jobs(workspace, [40] * 200)
    batch = store_batch(workspace.partner_id, [workspace.workspace_id])
    clock = FakeClock(T0)
    run_to_end(batch_runner(clock), batch)
    assert throttle(clock).next_free_at(workspace.partner_id) == T0 + 1  # 200 jobs at 200/s


def test_a_dry_run_writes_nothing_and_takes_no_time(tenants: Tenants) -> None:
    workspace = tenants.workspace(0)
    skipped_jobs(workspace, [40] * 300)
    batch = store_batch(workspace.partner_id, [workspace.workspace_id], dry_run=True)
    clock = FakeClock(T0)
    _, pages = run_to_end(batch_runner(clock), batch)
    assert pages == 3
    assert clock.now == T0
    assert throttle(clock).next_free_at(workspace.partner_id) is None
