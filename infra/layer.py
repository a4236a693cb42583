"""The dependencies layer, built offline from ``requirements.txt`` without Docker.

Synth installs wheels from a local wheelhouse (``.build/wheelhouse``) for the functions' platform, so it needs
neither Docker nor the network. ``python -m infra.layer download`` fills the wheelhouse (the install step runs
it once, with network); synth fails with that command in its message when the wheelhouse is missing.

Cold start: the layer leaves out the AWS SDK, which the runtime ships precompiled, and ships bytecode when the
machine that builds it has the runtime's Python version (docs/cold-start.md has the measurements).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra import REPO_ROOT

REQUIREMENTS = REPO_ROOT / "requirements.txt"
WHEELHOUSE = REPO_ROOT / ".build" / "wheelhouse"
DOWNLOAD_COMMAND = ".venv/bin/python -m infra.layer download"

_PLATFORM_TAGS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}

# The AWS SDK and its dependencies, which every Lambda Python runtime ships precompiled (in /var/runtime). A layer
# has no bytecode and /opt is read-only, so a bundled copy would be compiled from source on every cold start;
# the layer leaves them out and the functions use the runtime's (see docs/cold-start.md for the versions).
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"})


def requirement_name(line: str) -> str:
    """The normalized project name of a ``name==version`` requirement line (PEP 503)."""
    name = re.split(r"[\s=<>!~;\[]", line.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def layer_requirements(requirements: Path = REQUIREMENTS) -> list[str]:
    """The pinned requirement lines the layer installs: ``requirements`` less what the runtime provides."""
    lines = [line.split("#", 1)[0].strip() for line in requirements.read_text().splitlines()]
    return [line for line in lines if line and requirement_name(line) not in RUNTIME_PROVIDED]


NO_BYTECODE_WARNING = (
    "warning: no python{version} on PATH, so the Lambda layer ships without bytecode and every cold start compiles "
    "its modules (see docs/cold-start.md). Build on a machine with python{version} to ship it."
)


# ``-c layer_bytecode=required`` makes a build without the runtime's interpreter fail instead of warning.
BYTECODE_CONTEXT = "layer_bytecode"


class WheelhouseError(RuntimeError):
    """The local wheelhouse is missing or lacks a wheel the layer needs."""


@dataclass(frozen=True)
class LayerTarget:
    """The platform the layer's wheels must match: the functions' runtime and architecture."""

    runtime: lambda_.Runtime
    architecture: lambda_.Architecture

    @property
    def python_version(self) -> str:
        return self.runtime.name.removeprefix("python")

    def pip_platform_args(self) -> list[str]:
        """pip flags that select wheels for the Lambda platform instead of this machine."""
        return [
            "--platform",
            _PLATFORM_TAGS[self.architecture.name],
            "--implementation",
            "cp",
            "--python-version",
            self.python_version,
            "--only-binary=:all:",
        ]


# The functions' platform: the latest Python runtime this CDK version knows (cdk-nag's AwsSolutions-L1 wants it);
# Graviton is cheaper. The layer's wheels are built for it.
LAMBDA_TARGET = LayerTarget(lambda_.Runtime.PYTHON_3_14, lambda_.Architecture.ARM_64)


def compile_command(folder: Path, interpreter: str = sys.executable) -> list[str]:
    """``interpreter`` compiling every module under ``folder`` into bytecode that is never checked against its
    source (``unchecked-hash``): asset zips do not keep file times, and nothing edits a layer once built."""
    return [interpreter, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(folder)]


def compile_layer(folder: Path, interpreter: str = sys.executable) -> None:
    """Write bytecode for ``interpreter``'s Python version beside every module under ``folder``."""
    result = subprocess.run(compile_command(folder, interpreter), check=False, capture_output=True, text=True)  # noqa: S603
    if result.returncode != 0:
        raise WheelhouseError(f"Compiling the layer in {folder} failed.\n{result.stdout.strip()}")


def bytecode_interpreter(python_version: str) -> str | None:
    """A ``pythonX.Y`` on PATH of exactly ``python_version`` (the runtime's), or None: bytecode only loads in the
    version that wrote it, so the layer ships bytecode only when the machine that builds it has that interpreter."""
    found = shutil.which(f"python{python_version}")
    if found is None:
        return None
    probe = subprocess.run(  # noqa: S603 - the interpreter found on PATH, asked its version
        [found, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return found if probe.returncode == 0 and probe.stdout.strip() == python_version else None


def _pip(*args: str) -> list[str]:
    return [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args]


def _run_pip(command: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return subprocess.run(command, check=False, capture_output=True, text=True, env=env)  # noqa: S603


@jsii.implements(cdk.ILocalBundling)
class PipLayerBundling:
    """Installs ``requirements`` from ``wheelhouse`` into ``OUT/python`` (the layer's import path), offline.

    With ``interpreter`` (the runtime's Python version, see ``bytecode_interpreter``) the layer also ships its
    bytecode; without it every cold start compiles the layer's modules, and synth says so.
    """

    def __init__(
        self,
        target: LayerTarget,
        requirements: Path = REQUIREMENTS,
        wheelhouse: Path = WHEELHOUSE,
        interpreter: str | None = None,
        *,
        bytecode_required: bool = False,
    ):
        self.target = target
        self.requirements = requirements
        self.wheelhouse = wheelhouse
        self.interpreter = interpreter
        self.bytecode_required = bytecode_required

    def install_command(self, output_dir: str) -> list[str]:
        return _pip(
            "install",
            *layer_requirements(self.requirements),
            # Every transitive dependency is pinned in requirements.txt; --no-deps keeps the runtime's SDK out.
            "--no-deps",
            "--target",
            str(Path(output_dir) / "python"),
            *self.target.pip_platform_args(),
            "--no-index",
            "--find-links",
            str(self.wheelhouse),
            # pip would compile for this machine's Python; the runtime's interpreter compiles, if present.
            "--no-compile",
            "--quiet",
        )

    def try_bundle(self, output_dir: str, *, image: cdk.DockerImage, **_options: Any) -> bool:
        """Build the layer into ``output_dir``; raises ``WheelhouseError`` naming the fix when wheels are missing."""
        if not self.wheelhouse.is_dir() or not any(self.wheelhouse.glob("*.whl")):
            raise WheelhouseError(
                f"The Lambda layer wheelhouse {self.wheelhouse} is missing. Fill it once (needs network) with "
                f"`{DOWNLOAD_COMMAND}`, or synth with context aws:cdk:bundling-stacks=[] to skip bundling."
            )
        if self.interpreter is None and self.bytecode_required:
            raise WheelhouseError(
                f"-c {BYTECODE_CONTEXT}=required, but there is no python{self.target.python_version} on PATH to "
                "compile the layer with (see docs/cold-start.md)."
            )
        result = _run_pip(self.install_command(output_dir))
        if result.returncode != 0:
            raise WheelhouseError(
                f"Installing {self.requirements.name} from {self.wheelhouse} failed; the wheelhouse is probably "
                f"stale. Refresh it with `{DOWNLOAD_COMMAND}`.\n{result.stderr.strip()}"
            )
        if self.interpreter is not None:
            compile_layer(Path(output_dir) / "python", self.interpreter)
        else:
            print(NO_BYTECODE_WARNING.format(version=self.target.python_version), file=sys.stderr)
        return True


def layer_fingerprint(target: LayerTarget, requirements: Path = REQUIREMENTS, *, bytecode: bool = False) -> str:
    """The layer's asset hash: the pinned requirements, the platform they are installed for, and whether the
    layer holds bytecode (so a build that adds it replaces a layer built without it)."""
    digest = hashlib.sha256("\n".join(layer_requirements(requirements)).encode())
    digest.update(" ".join(target.pip_platform_args()).encode())
    if bytecode:
        digest.update(f"bytecode cpython-{target.python_version}".encode())
    return digest.hexdigest()


def dependencies_layer(
    scope: Construct,
    construct_id: str,
    target: LayerTarget,
    requirements: Path = REQUIREMENTS,
    wheelhouse: Path = WHEELHOUSE,
) -> lambda_.LayerVersion:
    """A layer holding ``requirements`` (less the runtime's SDK) installed for ``target`` from ``wheelhouse``,
    with bytecode when this machine has the runtime's Python version."""
    interpreter = bytecode_interpreter(target.python_version)
    required = scope.node.try_get_context(BYTECODE_CONTEXT) == "required"
    bundling = PipLayerBundling(target, requirements, wheelhouse, interpreter, bytecode_required=required)
    code = lambda_.Code.from_asset(
        str(requirements.parent),
        # A custom hash: fingerprinting the source folder (the repo root) would be slow and meaningless.
        asset_hash_type=cdk.AssetHashType.CUSTOM,
        asset_hash=layer_fingerprint(target, requirements, bytecode=interpreter is not None),
        bundling=cdk.BundlingOptions(
            # Never pulled: local bundling always succeeds or raises, so Docker is not used.
            image=cdk.DockerImage.from_registry("unused-local-bundling-only"),
            local=bundling,
        ),
    )
    return lambda_.LayerVersion(
        scope,
        construct_id,
        code=code,
        compatible_runtimes=[target.runtime],
        compatible_architectures=[target.architecture],
        description=(
            f"{requirements.name} less the runtime's AWS SDK, for {target.runtime.name} on {target.architecture.name}, "
            f"{'with' if interpreter else 'without'} bytecode"
        ),
    )


def download_wheels(target: LayerTarget, wheelhouse: Path = WHEELHOUSE, requirements: Path = REQUIREMENTS) -> Path:
    """Download every wheel the layer needs for ``target`` into ``wheelhouse`` (needs the package index)."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    command = _pip(
        "download",
        *layer_requirements(requirements),
        "--no-deps",
        "--dest",
        str(wheelhouse),
        *target.pip_platform_args(),
    )
    subprocess.run(command, check=True)  # noqa: S603
    return wheelhouse


def main(argv: list[str]) -> int:
    if argv != ["download"]:
        print(f"usage: {DOWNLOAD_COMMAND}", file=sys.stderr)
        return 2
    wheelhouse = download_wheels(LAMBDA_TARGET)
    print(f"wheels for {LAMBDA_TARGET.runtime.name} on {LAMBDA_TARGET.architecture.name} in {wheelhouse}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
