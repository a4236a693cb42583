"""Synthesize the CDK app in a child process (jsii keeps a Node.js process alive as long as its host, and it
would race the servers for Ctrl-C) and hand back the stack's template."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from infra import REPO_ROOT
from infra.naming import DEFAULT_STAGE, STAGE_CONTEXT_KEY, stack_name

# Skip bundling the layer: nothing is deployed locally.
SYNTH_CONTEXT: dict[str, list[str]] = {"aws:cdk:bundling-stacks": []}
SYNTH_TIMEOUT_SECONDS = 180
_MARKER = "local-synth-template="


class SynthError(RuntimeError):
    """``cdk synth`` of the app failed; the message carries its output."""


def synthesize(outdir: Path, stage: str = DEFAULT_STAGE) -> Path:
    """Synthesize the app for ``stage`` into ``outdir``; returns the path of the stage stack's template."""
    completed = subprocess.run(  # noqa: S603 - our own interpreter running our own module
        [sys.executable, "-m", "infra.local.synth", str(outdir), stage],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=SYNTH_TIMEOUT_SECONDS,
        check=False,
    )
    if completed.returncode != 0:
        raise SynthError(f"synthesizing the CDK app failed:\n{completed.stderr.strip() or completed.stdout.strip()}")
    paths = [line.removeprefix(_MARKER) for line in completed.stdout.splitlines() if line.startswith(_MARKER)]
    if not paths:
        raise SynthError(f"synthesis printed no template path:\n{completed.stdout.strip()}")
    return Path(paths[-1])


def _synthesize_here(outdir: str, stage: str) -> str:
    from infra.app import build_app  # loads the CDK (and its Node.js process) in the child only

    assembly = build_app(context={**SYNTH_CONTEXT, STAGE_CONTEXT_KEY: stage}, outdir=outdir).synth()
    return str(assembly.get_stack_by_name(stack_name(stage)).template_full_path)


if __name__ == "__main__":
    print(_MARKER + _synthesize_here(sys.argv[1], sys.argv[2]))
