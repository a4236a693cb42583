"""``gensail requeue``: start a requeue batch on the server and follow it with a progress bar.

Ctrl-C while it runs offers to cancel the batch (what it has requeued stays requeued); declined, the batch goes
on on the server. The bar's length is an estimate read before the batch starts: each workspace's skipped jobs of
the chosen reasons, from the config preview (nothing is written); without it the bar only counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType

import click
from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from gensail._sync import Gensail
from gensail.batch_models import SKIP_REASON_CODES, BatchStatus, RequeueBatch
from gensail.cli.base import api_command
from gensail.cli.output import EXIT_BATCH_NOT_COMPLETED, EXIT_INTERRUPTED, print_json, print_table
from gensail.errors import BatchFinished, GensailError, WaitTimeout

# How long to follow a cancelled batch to its end (it stops within one page) before leaving it to the server.
CANCEL_WAIT_SECONDS = 120.0


@api_command(None, "requeue")
@click.option("--workspace", "workspaces", multiple=True, help="A workspace (repeat for several; 100 at most).")
@click.option(
    "--reason",
    "reasons",
    multiple=True,
    type=click.Choice(SKIP_REASON_CODES),
    help="Only jobs skipped for this reason (repeat for several).",
)
@click.option("--dry-run", is_flag=True, help="Only count what the batch would requeue; no job changes.")
@click.option("--include-failing", is_flag=True, help="Also requeue jobs the current filters would skip again.")
@click.option("--max-jobs", type=click.IntRange(1, 100_000), help="Stop after this many jobs (default 100,000).")
@click.option(
    "--poll-interval", type=click.FloatRange(min=0.05), default=1.0, show_default=True, help="Seconds between reads."
)
def requeue(
    client: Gensail,
    output: str,
    *,
    workspaces: tuple[str, ...],
    reasons: tuple[str, ...],
    dry_run: bool,
    include_failing: bool,
    max_jobs: int | None,
    poll_interval: float,
) -> None:
    """Requeue the skipped jobs of the workspaces (a workspace key may leave --workspace out) in one batch.

    Exit codes as the other commands; 9 when the batch ended failed or was cancelled by someone else, 130 after
    Ctrl-C.
    """
    batch = client.requeue_batches.create(
        workspace_ids=list(dict.fromkeys(workspaces)) or None,
        skip_reasons=[reason for reason in SKIP_REASON_CODES if reason in reasons] or None,
        dry_run=dry_run,
        only_passing=not include_failing,
        max_jobs=max_jobs,
    )
    interrupted = False
    with BatchBar(batch, estimate_total(client, batch)) as bar:
        try:
            final = client.requeue_batches.wait(batch, on_progress=bar.update, poll_interval=poll_interval)
        except KeyboardInterrupt:
            bar.stop()
            interrupted = True
            final = offer_cancel(client, bar.latest, poll_interval)
    show_batch(final, output)
    if interrupted:
        raise click.exceptions.Exit(EXIT_INTERRUPTED)
    if final.status != BatchStatus.COMPLETED:
        raise click.exceptions.Exit(EXIT_BATCH_NOT_COMPLETED)


def estimate_total(client: Gensail, batch: RequeueBatch) -> int | None:
    """How many jobs the batch will look at, read before it starts, or ``None`` when that cannot be told."""
    selection = batch.selection
    explicit = selection.job_ids or selection.source_ids
    if explicit is not None:
        return len(explicit)
    if selection.skipped_after is not None or selection.skipped_before is not None:
        return None  # the preview counts every skipped job, not a time window
    total = 0
    for workspace_id in selection.workspace_ids:
        try:
            preview = client.config.preview(workspace_id, {})  # an empty patch: the filters as they are
        except GensailError:
            return None
        if selection.skip_reasons is None:
            total += preview.skipped_jobs
        else:
            total += sum(group.skipped for group in preview.by_reason if group.reason in selection.skip_reasons)
    return min(total, selection.max_jobs)


class CountsProgress(Progress):
    """A progress bar with its task's counts on a line of their own, so that a narrow terminal keeps the bar."""

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        for task in self.tasks:
            yield Text(f"  {task.fields['counts']}", overflow="fold")


class BatchBar:
    """A rich progress bar on standard error: jobs matched so far out of the estimate, and the counts."""

    def __init__(self, batch: RequeueBatch, estimate: int | None) -> None:
        self.latest = batch
        self._estimate = estimate
        self._progress = CountsProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        )
        self._task = self._progress.add_task(_title(batch), total=estimate, counts=_counts(batch))

    def __enter__(self) -> BatchBar:
        self._progress.start()
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def update(self, batch: RequeueBatch) -> None:
        """Show a fresh read of the batch; once it has finished, the bar is full at what it matched."""
        self.latest = batch
        matched = batch.counts.matched
        total = matched if batch.finished else (None if self._estimate is None else max(self._estimate, matched))
        self._progress.update(
            self._task, completed=matched, total=total, description=_title(batch), counts=_counts(batch)
        )

    def stop(self) -> None:
        self._progress.stop()


def offer_cancel(client: Gensail, batch: RequeueBatch, poll_interval: float) -> RequeueBatch:
    """After Ctrl-C: ask whether to cancel the batch; if so, cancel it and follow it to its end."""
    question = f"Cancel batch {batch.batch_id}? What it has requeued so far stays requeued"
    try:
        wanted = click.confirm(question, default=False, err=True)
    except click.Abort:  # Ctrl-C again, or no answer to read
        wanted = False
    if not wanted:
        click.echo(f"Batch {batch.batch_id} goes on on the server.", err=True)
        return batch
    try:
        client.requeue_batches.cancel(batch)
    except BatchFinished:
        click.echo(f"Batch {batch.batch_id} had already finished.", err=True)
    else:
        click.echo(f"Cancelling batch {batch.batch_id}: it stops within one page.", err=True)
    try:
        return client.requeue_batches.wait(batch, poll_interval=poll_interval, timeout=CANCEL_WAIT_SECONDS)
    except WaitTimeout as slow:
        return slow.batch


def show_batch(batch: RequeueBatch, output: str) -> None:
    if output == "json":
        print_json(batch)
        return
    counts = batch.counts.model_dump()
    rows: list[tuple[str, str | None]] = [("batch_id", batch.batch_id), ("status", batch.status.value)]
    rows += [("dry_run", str(batch.dry_run).lower())]
    rows += [(name, str(value)) for name, value in counts.items()]
    rows += [("started_at", batch.started_at), ("finished_at", batch.finished_at)]
    print_table(("field", "value"), rows, title=f"requeue batch {batch.batch_id}")


def _title(batch: RequeueBatch) -> str:
    return f"{'dry run' if batch.dry_run else 'requeue'} {batch.status.value}"


def _counts(batch: RequeueBatch) -> str:
    counts = batch.counts
    if batch.dry_run:
        return f"would pass {counts.would_pass} · would skip {counts.would_skip}"
    return (
        f"requeued {counts.requeued} · left skipped {counts.would_skip} · "
        f"not skipped anymore {counts.not_skipped_anymore} · failed {counts.failed}"
    )
