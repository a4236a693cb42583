"""Handler imports the way Lambda loads them, beside the floor, printed as one JSON document.

Run with ``make bench-cold-start`` (``make bench`` includes it). Lambda runs each cold start in a fresh
interpreter whose function code (``/var/task``) and layers (``/opt``) are read-only and hold no bytecode, so
every module there is compiled from source on each cold start; only the interpreter's standard library and the
runtime's own SDK (boto3, botocore and their dependencies, under ``/var/runtime``) come precompiled. This
benchmark rebuilds that layout in a temporary folder from the packages installed here:

- ``task``: ``functions/`` and ``shared/``, source only (what the code asset holds);
- ``layer``: the layer's packages, source only, exactly the set ``infra.layer`` installs (a build machine
  without the runtime's Python version, like this one);
- ``layer_compiled``: the same with the bytecode ``infra.layer`` adds when the builder has that version
  (compiled here by this machine's interpreter, the one that runs the probes);
- ``layer_with_sdk``: the layer as it was before, with boto3 and botocore bundled, source only;
- ``runtime``: the SDK the runtime provides, compiled ahead of time as the runtime ships it.

Every sample is a fresh interpreter (``python -S``, no site-packages of this machine) with
``PYTHONDONTWRITEBYTECODE=1``, the folders made read-only (root ignores the mode: the run checks at the end that
no bytecode was written), and the import timed inside the process. The variants run interleaved so machine
noise hits them alike; the figures are medians, and each ratio is the median of the per-round ratios to that
round's floor. It measures this
machine's CPython (3.11, x86_64), not Lambda's 3.14 on arm64: compile and import costs differ between them, so
the ratios to the floor are the figures to compare, not the milliseconds.
"""

from __future__ import annotations

import compileall
import json
import os
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from infra.functions import CODE_FOLDERS  # noqa: E402
from infra.layer import REQUIREMENTS, RUNTIME_PROVIDED, compile_layer, layer_requirements, requirement_name  # noqa: E402

RUNS = int(os.environ.get("BENCH_COLD_START_RUNS", "11"))
TARGET_RATIO = 1.5
FLOOR = "import boto3; boto3.client('dynamodb', region_name='us-east-1')"
HANDLERS = {
    "api_handler": "import functions.api.handler",
    "authorizer_handler": "import functions.authorizer.handler",
}
# Each variant: which folders are on sys.path, in Lambda's order (function code, layer, runtime).
LAYOUTS: dict[str, tuple[str, ...]] = {
    # The layer as deployed from a machine with the runtime's Python version: no SDK, bytecode included.
    "layer_with_bytecode": ("task", "layer_compiled", "runtime"),
    # The layer as deployed from a machine without it (like this one): no SDK, sources only.
    "layer_without_bytecode": ("task", "layer", "runtime"),
    # For comparison, the layer before: the SDK bundled too, so it was compiled on every cold start as well.
    "sdk_in_layer": ("task", "layer_with_sdk", "runtime"),
}
PROBE = """
import sys, time
sys.path[:0] = {paths!r}
started = time.perf_counter()
{statement}
elapsed = time.perf_counter() - started
compiled = sorted(name for name, module in sys.modules.items()
                  if (getattr(module, "__file__", None) or "").startswith({compiled_roots!r}))
print(elapsed, len(compiled))
"""


@dataclass(frozen=True)
class Layout:
    """The folders of one simulated execution environment."""

    root: Path

    def folder(self, name: str) -> Path:
        return self.root / name


def _distribution_files(name: str) -> list[tuple[Path, Path]]:
    """(installed file, path relative to site-packages) of one installed distribution, bytecode left out."""
    distribution = metadata.distribution(name)
    files = []
    for file in distribution.files or []:
        if "__pycache__" in file.parts or file.suffix == ".pyc" or file.parts[0] == "..":
            continue
        files.append((Path(str(distribution.locate_file(file))), Path(*file.parts)))
    return files


def _install(names: list[str], folder: Path) -> None:
    for name in names:
        for source, relative in _distribution_files(name):
            target = folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _make_read_only(folder: Path) -> None:
    for path in (folder, *folder.rglob("*")):
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def build_layout(root: Path) -> Layout:
    """The task, layer and runtime folders, filled from this machine's installed packages."""
    layout = Layout(root)
    task = layout.folder("task")
    for folder in CODE_FOLDERS:
        shutil.copytree(ROOT / folder, task / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    layer_names = [requirement_name(line) for line in layer_requirements(REQUIREMENTS)]
    _install(layer_names, layout.folder("layer"))
    _install([*layer_names, *sorted(RUNTIME_PROVIDED)], layout.folder("layer_with_sdk"))
    _install(layer_names, layout.folder("layer_compiled"))
    compile_layer(layout.folder("layer_compiled"))
    runtime = layout.folder("runtime")
    _install(sorted(RUNTIME_PROVIDED), runtime)
    # The runtime's SDK is precompiled (timestamp-checked, as a plain install is).
    if not compileall.compile_dir(str(runtime), quiet=2, workers=1):
        raise RuntimeError("compiling the runtime's SDK failed")
    for name in FOLDERS:
        _make_read_only(layout.folder(name))
    return layout


PRECOMPILED = ("runtime", "layer_compiled")
FOLDERS = ("task", "layer", "layer_compiled", "layer_with_sdk", "runtime")


def _sample(layout: Layout, folders: tuple[str, ...], statement: str) -> tuple[float, int]:
    paths = [str(layout.folder(name)) for name in folders]
    compiled_roots = tuple(str(layout.folder(name)) for name in folders if name not in PRECOMPILED)
    probe = PROBE.format(paths=paths, statement=statement, compiled_roots=compiled_roots)
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "TZ": "UTC",
    }
    # The base interpreter with -S: no site-packages of this machine can shadow the layout's folders.
    interpreter = getattr(sys, "_base_executable", sys.executable)
    output = subprocess.run(
        [interpreter, "-S", "-c", probe],
        check=False,
        cwd=layout.root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if output.returncode != 0:
        raise RuntimeError(f"probe failed: {statement}\n{output.stderr}")
    seconds, modules = output.stdout.split()
    return float(seconds), int(modules)


def _no_bytecode_written(layout: Layout) -> bool:
    return not any(
        path for name in ("task", "layer", "layer_with_sdk") for path in layout.folder(name).rglob("__pycache__")
    )


def measure(runs: int = RUNS) -> dict[str, Any]:
    """Medians of ``runs`` interleaved fresh-interpreter imports: floor, then each handler in each layout."""
    with tempfile.TemporaryDirectory(prefix="cold-start-") as temporary:
        layout = build_layout(Path(temporary))
        probes: dict[str, tuple[tuple[str, ...], str]] = {"floor": (("runtime",), FLOOR)}
        for layout_name, folders in LAYOUTS.items():
            for handler, statement in HANDLERS.items():
                probes[f"{handler}/{layout_name}"] = (folders, statement)
        samples: dict[str, list[float]] = {name: [] for name in probes}
        compiled_modules: dict[str, int] = {}
        for _ in range(runs):
            for name, (folders, statement) in probes.items():
                seconds, modules = _sample(layout, folders, statement)
                samples[name].append(seconds)
                compiled_modules[name] = modules
        clean = _no_bytecode_written(layout)
        for path in (layout.root, *layout.root.rglob("*")):
            path.chmod(path.stat().st_mode | stat.S_IWUSR)  # so the temporary folder can be removed
    medians = {name: statistics.median(values) for name, values in samples.items()}
    return {
        "what": "import of each handler module in a fresh interpreter (python -S, PYTHONDONTWRITEBYTECODE=1), "
        "function code and layer read-only, function code without bytecode, the runtime's SDK precompiled; "
        "floor = import boto3 + one client from the precompiled SDK",
        "interpreter": f"CPython {sys.version.split()[0]} on this machine (Lambda runs CPython 3.14 on arm64)",
        "runs": runs,
        "median_ms": {name: round(value * 1000, 1) for name, value in medians.items()},
        # Per round, each import over that round's floor, then the median: a burst of load on this shared machine
        # then weighs on both sides of one ratio instead of on one side of the medians.
        "ratio_to_floor": {
            name: round(statistics.median(v / f for v, f in zip(values, samples["floor"], strict=True)), 2)
            for name, values in samples.items()
            if name != "floor"
        },
        "modules_compiled_from_source": {name: count for name, count in compiled_modules.items() if name != "floor"},
        "runtime_provided_sdk": sorted(RUNTIME_PROVIDED),
        "no_bytecode_written": clean,
        "target_ratio": {"api_handler/layer_with_bytecode": TARGET_RATIO},
    }


def main() -> None:
    print(json.dumps(measure(), indent=2))


if __name__ == "__main__":
    main()
