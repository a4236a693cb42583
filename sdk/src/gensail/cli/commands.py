"""``gensail``: jobs, config and requeue batches from the command line. Every command takes ``--output table|json``.

The key comes from ``--api-key`` or ``GENSAIL_API_KEY``, the URL from ``--base-url`` or ``GENSAIL_BASE_URL``.
Exit codes are listed in :mod:`gensail.cli.output`.
"""

from __future__ import annotations

import json
from typing import Any

import click

from gensail._sync import Gensail
from gensail._version import __version__
from gensail.cli import requeue
from gensail.cli.base import api_command
from gensail.cli.output import print_json, print_table
from gensail.config_models import EffectiveValue
from gensail.models import JobStatus


@click.group()
@click.version_option(__version__, prog_name="gensail")
def cli() -> None:
    """Gensail jobs, config and requeue batches from the command line."""


cli.add_command(requeue.requeue)


@cli.group()
def jobs() -> None:
    """List, show and requeue jobs."""


@cli.group()
def config() -> None:
    """Show and change a workspace's settings."""


@api_command(jobs, "list")
@click.option("--status", type=click.Choice([status.value for status in JobStatus]), help="Only jobs in this status.")
@click.option("--workspace", help="The workspace (a workspace key may leave it out).")
def list_jobs(client: Gensail, output: str, status: str | None, workspace: str | None) -> None:
    """Every job of a workspace, newest first (all pages)."""
    found = list(client.jobs.list(status=status, workspace_id=workspace))
    if output == "json":
        print_json(found)
        return
    rows = [(j.job_id, j.status.value, j.skipped_reason, j.duration_seconds, j.created_at) for j in found]
    print_table(("job_id", "status", "skipped_reason", "duration_s", "created_at"), rows, title=f"{len(found)} jobs")


@api_command(jobs, "get")
@click.argument("job_id")
def get_job(client: Gensail, output: str, job_id: str) -> None:
    """One job with its skip reason, requeue metadata and history."""
    job = client.jobs.get(job_id)
    if output == "json":
        print_json(job)
        return
    fields = job.model_dump(mode="json", exclude={"history", "source_metadata", "result"})
    print_table(("field", "value"), [(name, _show(value)) for name, value in fields.items()], title=f"job {job_id}")
    print_table(("at", "status", "cause"), [(e.at, e.status.value, e.cause) for e in job.history], title="history")


@api_command(jobs, "requeue")
@click.argument("job_id")
def requeue_job(client: Gensail, output: str, job_id: str) -> None:
    """Requeue a skipped job: it is checked against the current filters again."""
    result = client.jobs.requeue(job_id)
    if output == "json":
        print_json(result)
        return
    click.echo(f"Job {result.job_id} {result.previous_status.value} -> {result.new_status.value}: {result.message}")


@api_command(config, "show")
@click.option("--workspace", required=True, help="The workspace.")
@click.argument("prefix", required=False)
def show_config(client: Gensail, output: str, workspace: str, prefix: str | None) -> None:
    """Every effective setting of the workspace (or those under PREFIX) and the level that sets it."""
    effective = client.config.effective(workspace)
    settings = {key: value for key, value in effective.settings.items() if prefix is None or key.startswith(prefix)}
    if output == "json":
        print_json({key: value.model_dump(mode="json") for key, value in settings.items()})
        return
    print_table(("setting", "value", "set by", "id"), _setting_rows(settings), title=f"workspace {workspace}")


@api_command(config, "set")
@click.option("--workspace", required=True, help="The workspace whose own document changes.")
@click.option("--preview", is_flag=True, help="Only show what the change would do; nothing is written.")
@click.argument("key")
@click.argument("value")
def set_config(client: Gensail, output: str, *, workspace: str, preview: bool, key: str, value: str) -> None:
    """Set KEY to VALUE (JSON, else a string; null inherits again) in the workspace's own document."""
    patch = merge_patch(key, parse_value(value))
    if preview:
        result = client.config.preview(workspace, patch)
        if output == "json":
            print_json(result)
            return
        before = _setting_rows(result.filters_before)
        after = _setting_rows(result.filters_after)
        print_table(("setting", "value", "set by", "id"), before, title="filters now")
        print_table(("setting", "value", "set by", "id"), after, title="filters after the change")
        rows = [(r.reason, r.skipped, r.would_pass, r.would_stay_skipped) for r in result.by_reason]
        title = f"{result.would_pass} of {result.skipped_jobs} skipped jobs would pass (nothing was written)"
        print_table(("skip reason", "skipped", "would pass", "would stay skipped"), rows, title=title)
        return
    document = client.config.patch("workspace", workspace, patch)
    if output == "json":
        print_json(document)
        return
    click.echo(f"{key} = {json.dumps(parse_value(value))} at workspace {workspace} (version {document.version})")


def parse_value(text: str) -> Any:
    """A command-line value: JSON when it reads as JSON (``10``, ``true``, ``null``, ``[...]``), else the text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def merge_patch(key: str, value: Any) -> dict[str, Any]:
    """The JSON Merge Patch that sets one dotted ``key``: ``a.b.c`` -> ``{"a": {"b": {"c": value}}}``."""
    patch: Any = value
    for part in reversed(key.split(".")):
        if not part:
            raise click.BadParameter(f"{key!r} is not a dotted setting name", param_hint="KEY")
        patch = {part: patch}
    result: dict[str, Any] = patch
    return result


def _setting_rows(settings: dict[str, EffectiveValue]) -> list[tuple[str, str, str, str | None]]:
    return [(key, _show(s.value), s.source.level, s.source.id) for key, s in sorted(settings.items())]


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
