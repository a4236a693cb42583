"""The README's Python examples, run as a customer would: in their own interpreter, against the local runtime."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def run_readme_example(marker: str, api_url: str, demo_file: Path) -> subprocess.CompletedProcess[str]:
    """Run the README's Python block containing ``marker`` against ``api_url``, reading ``demo_file`` where the
    example reads ``.local/demo.json``."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    script = next(block for block in blocks if marker in block).replace(".local/demo.json", str(demo_file))
    return subprocess.run(  # noqa: S603 - this interpreter running the README's example
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "GENSAIL_BASE_URL": api_url},
    )
