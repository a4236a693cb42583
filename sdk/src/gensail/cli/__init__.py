"""The ``gensail`` command line; it needs the ``cli`` extra (click and rich): ``pip install "./sdk[cli]"``."""

from __future__ import annotations

import sys


def main() -> None:
    """Entry point of the ``gensail`` console script."""
    try:
        from gensail.cli.commands import cli  # click and rich load only when the command line runs
    except ModuleNotFoundError as missing:
        if missing.name not in {"click", "rich"}:
            raise
        sys.stderr.write('The gensail command line needs its extra: pip install "gensail[cli]"\n')
        sys.exit(2)
    cli()
