"""``make scan``: cfn-lint and checkov on the synthesized templates of every stage shape we deploy.

Two apps are synthesized (asset bundling skipped): the default stage, and a production stage with the WAF on, so
every resource either shape can contain is linted. cfn-lint (pinned in requirements-dev.txt) must report no
error; checkov (pinned in requirements-scan.txt, in its own virtualenv) must report no failed check: what this
design accepts is acknowledged, with its reason, in ``infra/checkov.py``. Exit status 0 only when both are clean.

    python -m infra.scan [--checkov PATH] [--outdir DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

from infra import REPO_ROOT

# The stage shapes that are scanned: (directory, context).
SHAPES: dict[str, dict[str, str]] = {
    "dev": {"stage": "dev"},
    "prod-waf": {"stage": "prod", "waf": "true"},
}
DEFAULT_OUTDIR = REPO_ROOT / ".build" / "scan"
DEFAULT_CHECKOV = REPO_ROOT / ".build" / "checkov" / "bin" / "checkov"
# cfn-lint's exit status is a bit field: 2 errors, 4 warnings, 8 informational (1: it failed to run).
CFN_LINT_ERRORS = 1 | 2


def synthesize(outdir: Path) -> list[Path]:
    """Synthesize every shape into ``outdir/<shape>``; the paths of all the templates written."""
    from infra.app import SKIP_BUNDLING, build_app  # the CDK (and its Node.js process) only when scanning

    templates: list[Path] = []
    for shape, context in SHAPES.items():
        merged: dict[str, Any] = {**SKIP_BUNDLING, **context}
        assembly = build_app(merged, outdir=str(outdir / shape)).synth()
        templates += [Path(stack.template_full_path) for stack in assembly.stacks]
    return templates


def cfn_lint(templates: list[Path]) -> bool:
    completed = subprocess.run(  # noqa: S603 - the pinned cfn-lint of this virtualenv
        [str(Path(sys.executable).parent / "cfn-lint"), *map(str, templates)], check=False
    )
    return not completed.returncode & CFN_LINT_ERRORS


def checkov(executable: Path, templates: list[Path]) -> bool:
    files = [argument for template in templates for argument in ("-f", str(template))]
    completed = subprocess.run(  # noqa: S603 - the pinned checkov of make scan's virtualenv
        [str(executable), *files, "--framework", "cloudformation", "--skip-download", "--compact", "--quiet"],
        check=False,
    )
    return completed.returncode == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.scan", description=__doc__.splitlines()[0])
    parser.add_argument("--checkov", type=Path, default=DEFAULT_CHECKOV, help="the checkov executable")
    parser.add_argument("--outdir", type=Path, default=DEFAULT_OUTDIR, help="where the templates are written")
    args = parser.parse_args(argv)
    templates = synthesize(args.outdir)
    print(f"cfn-lint on {len(templates)} templates...", flush=True)
    linted = cfn_lint(templates)
    print(f"cfn-lint: {'no errors' if linted else 'ERRORS'}", flush=True)
    print("checkov...", flush=True)
    scanned = checkov(args.checkov, templates)
    verdict = "no unacknowledged finding" if scanned else "FINDINGS (fix them, or acknowledge them in infra/checkov.py)"
    print(f"checkov: {verdict}")
    return 0 if linted and scanned else 1


if __name__ == "__main__":
    sys.exit(main())
