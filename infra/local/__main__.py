"""``python -m infra.local`` (``make run``): serve the API on 127.0.0.1 with fresh demo data until Ctrl-C, with the
stream worker, the scheduled functions, the CallRail poller over a sample server (SAMPLE data), the pipeline and
a webhook receiver running."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from infra.local.runtime import (
    CALLRAIL_ARRIVAL_SECONDS,
    DEFAULT_DEMO_FILE,
    DEFAULT_PORT,
    SCHEDULE_SCALE_VARIABLE,
    LocalRuntime,
    start,
)
from infra.local.seed import SAMPLE_LOW_DAILY_LIMIT, SETTING_LOW_LIMIT, SETTING_SKIP_ALL
from infra.local.synth import SynthError
from infra.naming import DEFAULT_STAGE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local", description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", DEFAULT_PORT)), help="API port (PORT)")
    parser.add_argument("--template", type=Path, help="serve this synthesized template instead of synthesizing")
    parser.add_argument("--aws-port", type=int, default=0, help="port of the embedded moto server (default: free)")
    parser.add_argument("--demo-file", type=Path, default=DEFAULT_DEMO_FILE, help="where to write the demo keys")
    parser.add_argument("--seed", type=int, default=7, help="seed of the demo data's shape")
    parser.add_argument(
        "--schedule-scale",
        type=float,
        default=float(os.environ.get(SCHEDULE_SCALE_VARIABLE) or 1),
        help=f"multiply every schedule's period: 0.1 runs a 5-minute schedule every 30 s ({SCHEDULE_SCALE_VARIABLE})",
    )
    parser.add_argument(
        "--stage",
        default=os.environ.get("STAGE", DEFAULT_STAGE),
        help=f"the deployment stage to synthesize and serve (STAGE, default {DEFAULT_STAGE}): its names and SSM paths",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("werkzeug").setLevel(logging.INFO)  # the API's access log
    logging.getLogger("infra.local").setLevel(logging.INFO)  # the worker's, the schedules' and the pipeline's lines

    stop_requested = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        print(f"\n{signal.Signals(signum).name} received, stopping...", flush=True)
        stop_requested.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    started = time.monotonic()
    print("Starting the local runtime (synthesizing the CDK app)..." if args.template is None else "Starting...")
    try:
        runtime = start(
            port=args.port,
            template_path=args.template,
            demo_file=args.demo_file,
            seed=args.seed,
            aws_port=args.aws_port,
            schedule_scale=args.schedule_scale,
            stage=args.stage,
        )
    except SynthError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"error: cannot listen on 127.0.0.1:{args.port}: {error} (set PORT to use another)", file=sys.stderr)
        return 1
    print(banner(runtime, time.monotonic() - started), flush=True)
    try:
        while not stop_requested.wait(0.5):
            pass
    finally:
        runtime.stop()
    print("Local runtime stopped.", flush=True)
    return 0


def banner(runtime: LocalRuntime, seconds: float) -> str:
    """What a developer needs to start calling the API: URLs, keys, and the spec's examples."""
    lines = [
        f"Gensail local runtime ready in {seconds:.1f}s",
        f"  API          {runtime.api_url}",
    ]
    if runtime.docs_url:
        lines.append(f"  Swagger UI   {runtime.docs_url}")
    lines += [
        f"  AWS (moto)   {runtime.aws_endpoint_url}   table {runtime.table_name}",
        f"  Webhooks     {runtime.webhooks.url}   (receiver: checks X-Signature, prints each delivery)",
    ]
    if runtime.callrail is not None:
        accounts = runtime.demo.callrail_accounts
        lines.append(
            f"  CallRail     {runtime.callrail.url}   CallRail SAMPLE data (generated calls, not CallRail's): "
            f"{len(accounts)} accounts, one per workspace"
        )
    for consumer in runtime.queues.mappings:
        lines.append(
            f"  Poller       {consumer.function_name} <- queue {consumer.queue_url.rpartition('/')[2]} "
            f"(batch {consumer.mapping.batch_size})"
        )
    for state in runtime.streams.mappings:
        mapping = state.mapping
        lines.append(
            f"  Worker       {state.function_name} <- stream of {runtime.table_name} "
            f"(batch {mapping.batch_size}, {len(mapping.filter_patterns)} filter(s))"
        )
    lines += [f"  Schedule     {line}" for line in runtime.scheduler.describe()]
    if runtime.scheduler.entries and runtime.scheduler.scale == 1:
        lines.append(
            f"               (real rates; {SCHEDULE_SCALE_VARIABLE}=0.1 or --schedule-scale 0.1 runs them 10x as often)"
        )
    lines += [
        f"  Pipeline     {arn.rpartition(':')[2]} (Step Functions run by moto, handlers in-process)"
        for arn in runtime.state_machine_arns.values()
    ]
    lines += [
        f"  Demo file    {runtime.demo_file}" if runtime.demo_file else "",
        "",
        "API keys (shown once; also in the demo file):",
    ]
    names = {tenant.id: tenant.name for tenant in runtime.demo.tenants}
    for key in runtime.demo.api_keys:
        lines.append(f"  {key.scope:<12} {key.scope_id:<16} {names.get(key.scope_id, ''):<34} {key.key}")
    workspace_key = runtime.demo.key_for("workspace")
    partner_key = runtime.demo.key_for("partner")
    workspace = next(tenant for tenant in runtime.demo.tenants if tenant.id == workspace_key.scope_id)
    partner_workspace = next(
        tenant.id
        for tenant in runtime.demo.tenants
        if tenant.kind == "workspace"
        and any(org.id == tenant.parent_id and org.parent_id == partner_key.scope_id for org in runtime.demo.tenants)
    )
    state_option = (
        f" --local-state {runtime.demo_file}"
        if runtime.demo_file is not None and runtime.demo_file != DEFAULT_DEMO_FILE
        else ""
    )
    lines += [
        "",
        f"Try it (workspace key of {workspace.name}):",
        f'  curl "{runtime.api_url}/api/v1/jobs?status=skipped" -H "Authorization: Bearer {workspace_key.key}"',
        f'  curl -X PATCH "{runtime.api_url}/api/v1/jobs/JOB_ID/status" \\',
        f'    -H "Authorization: Bearer {workspace_key.key}" \\',
        '    -H "Content-Type: application/json" \\',
        '    -d \'{"status": "queued"}\'',
        "With a partner key, name the workspace:",
        f'  curl "{runtime.api_url}/api/v1/jobs?status=skipped&workspace_id={partner_workspace}" '
        f'-H "Authorization: Bearer {partner_key.key}"',
        "",
        "Watch the pipeline: requeue a skipped job (PATCH above), then poll it until it settles:",
        f'  curl "{runtime.api_url}/api/v1/jobs/JOB_ID" -H "Authorization: Bearer {workspace_key.key}"',
        "  A short call goes back to skipped (duration_below_minimum). Lower the threshold and requeue again:",
        f'  curl -X PATCH "{runtime.api_url}/api/v1/config/workspaces/{workspace.id}" \\',
        f'    -H "Authorization: Bearer {workspace_key.key}" \\',
        '    -H "Content-Type: application/merge-patch+json" \\',
        '    -d \'{"processing": {"filters": {"min_duration_seconds": 5}}}\'',
        f"  (or, as an operator: python -m infra.admin --local{state_option} config set --level workspace "
        f"--id {workspace.id} processing.filters.min_duration_seconds 5)",
        "  ... and it moves queued -> transcribing -> analyzing -> publishing -> completed; the webhook prints above.",
        "",
        "Ctrl-C stops; the next start begins from fresh demo data.",
    ]
    if runtime.callrail is not None and runtime.demo.callrail_accounts:
        lines[-2:-2] = ["", *ingestion_lines(runtime)]
    return "\n".join(line for line in lines if line is not None)


def ingestion_lines(runtime: LocalRuntime) -> list[str]:
    """What the CallRail poller does with the SAMPLE accounts, and how to see it."""
    demo = runtime.demo
    skip_all = demo.callrail_account(SETTING_SKIP_ALL)
    low_limit = demo.callrail_account(SETTING_LOW_LIMIT)
    key = demo.key_for("workspace", skip_all.workspace_id)
    return [
        "CallRail ingestion (SAMPLE data): every workspace polls its own sample account; the poll dispatcher ran at "
        f"start and runs on its schedule; new sample calls arrive every {CALLRAIL_ARRIVAL_SECONDS:g} s.",
        f"  {skip_all.workspace_name} ({skip_all.workspace_id}): skip_all_on_ingest -> every call skipped",
        f"  {low_limit.workspace_name} ({low_limit.workspace_id}): max_calls_per_workspace "
        f"{SAMPLE_LOW_DAILY_LIMIT} -> {SAMPLE_LOW_DAILY_LIMIT} queued a day, the rest skipped (rate_limit)",
        "  the other workspaces: defaults (short calls skipped by duration, the rest run through the pipeline)",
        f'  curl "{runtime.api_url}/api/v1/jobs?status=skipped&workspace_id={skip_all.workspace_id}" '
        f'-H "Authorization: Bearer {key.key}"',
    ]


if __name__ == "__main__":
    sys.exit(main())
