"""``python -m infra.local`` (``make run``): the local runtime on 127.0.0.1 over fresh demo data until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from infra.local.runtime import DEFAULT_DEMO_FILE, DEFAULT_PORT, SCHEDULE_SCALE_VARIABLE, LocalRuntime, start
from infra.local.synth import SynthError
from infra.local.template import TemplateError
from infra.naming import DEFAULT_STAGE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local", description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", DEFAULT_PORT)), help="API port (PORT)")
    parser.add_argument("--template", type=Path, help="serve this synthesized template instead of synthesizing")
    parser.add_argument("--demo-file", type=Path, default=DEFAULT_DEMO_FILE, help="where to write the demo keys")
    scale = float(os.environ.get(SCHEDULE_SCALE_VARIABLE) or 1)
    help_scale = f"multiply every schedule's period: 0.1 runs a 5-minute one every 30 s ({SCHEDULE_SCALE_VARIABLE})"
    parser.add_argument("--schedule-scale", type=float, default=scale, help=help_scale)
    parser.add_argument("--stage", default=os.environ.get("STAGE", DEFAULT_STAGE), help="the stage to serve (STAGE)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("werkzeug").setLevel(logging.INFO)  # the API's access log
    logging.getLogger("infra.local").setLevel(logging.INFO)  # the worker's, the schedules' and the pipeline's lines

    stop_requested = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda signum, _: stop_requested.set())
    started = time.monotonic()
    print("Starting the local runtime (synthesizing the CDK app)..." if args.template is None else "Starting...")
    try:
        runtime = start(
            port=args.port,
            template_path=args.template,
            demo_file=args.demo_file,
            schedule_scale=args.schedule_scale,
            stage=args.stage,
        )
    except (SynthError, TemplateError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"error: cannot listen on 127.0.0.1:{args.port}: {error} (set PORT to use another)", file=sys.stderr)
        return 1
    print(banner(runtime, time.monotonic() - started), flush=True)
    try:
        while not stop_requested.wait(0.5):
            pass
        print("\nStopping...", flush=True)
    finally:
        runtime.stop()
    print("Local runtime stopped.", flush=True)
    return 0


def banner(runtime: LocalRuntime, seconds: float) -> str:
    """Where everything is and the keys to call it with."""
    lines = [
        f"Gensail local runtime ready in {seconds:.1f}s",
        f"  API          {runtime.api_url}   (Swagger UI {runtime.docs_url})",
        f"  AWS (moto)   {runtime.aws_endpoint_url}   table {runtime.table_name}",
        f"  Webhooks     {runtime.webhooks.url}   (checks X-Signature, prints each delivery)",
        *(f"  Schedule     {line}" for line in runtime.scheduler.describe()),
    ]
    if runtime.callrail is not None:
        lines.append(f"  CallRail     {runtime.callrail.url}   CallRail SAMPLE data, one account per workspace")
        lines += [
            f"    {account.workspace_name} ({account.workspace_id}): {account.setting.replace('=', ' ')}"
            for account in runtime.callrail_accounts
            if account.setting != "default"
        ]
    names = {tenant.id: tenant.name for tenant in runtime.demo.tenants}
    lines += ["", f"API keys (shown once; also in {runtime.demo_file}):" if runtime.demo_file else "API keys:"]
    lines += [
        f"  {key.scope:<12} {key.scope_id:<16} {names.get(key.scope_id, ''):<34} {key.key}"
        for key in runtime.demo.api_keys
    ]
    workspace_key = runtime.demo.key_for("workspace").key
    lines += [
        "",
        'Try it (README.md, "Quick start", walks through requeue, config and the pipeline):',
        f'  curl "{runtime.api_url}/api/v1/jobs?status=skipped" -H "Authorization: Bearer {workspace_key}"',
        "Ctrl-C stops; the next start begins from fresh demo data.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
