"""The dependencies layer, built offline from ``requirements.txt`` without Docker.

Synth installs wheels from a local wheelhouse (``.build/wheelhouse``) for the functions' platform, so it needs
neither Docker nor the network. ``python -m infra.layer download`` fills the wheelhouse (the install step runs
it once, with network); synth fails with that command in its message when the wheelhouse is missing.
"""

from __future__ import annotations

import hashlib
import os
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


def _pip(*args: str) -> list[str]:
    return [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args]


def _run_pip(command: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return subprocess.run(command, check=False, capture_output=True, text=True, env=env)  # noqa: S603


@jsii.implements(cdk.ILocalBundling)
class PipLayerBundling:
    """Installs ``requirements`` from ``wheelhouse`` into ``OUT/python`` (the layer's import path), offline."""

    def __init__(self, target: LayerTarget, requirements: Path = REQUIREMENTS, wheelhouse: Path = WHEELHOUSE):
        self.target = target
        self.requirements = requirements
        self.wheelhouse = wheelhouse

    def install_command(self, output_dir: str) -> list[str]:
        return _pip(
            "install",
            "--requirement",
            str(self.requirements),
            "--target",
            str(Path(output_dir) / "python"),
            *self.target.pip_platform_args(),
            "--no-index",
            "--find-links",
            str(self.wheelhouse),
            # Bytecode compiled here would be for this machine's Python, not the runtime's.
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
        result = _run_pip(self.install_command(output_dir))
        if result.returncode != 0:
            raise WheelhouseError(
                f"Installing {self.requirements.name} from {self.wheelhouse} failed; the wheelhouse is probably "
                f"stale. Refresh it with `{DOWNLOAD_COMMAND}`.\n{result.stderr.strip()}"
            )
        return True


def layer_fingerprint(target: LayerTarget, requirements: Path = REQUIREMENTS) -> str:
    """The layer's asset hash: the pinned requirements and the platform they are installed for."""
    digest = hashlib.sha256(requirements.read_bytes())
    digest.update(" ".join(target.pip_platform_args()).encode())
    return digest.hexdigest()


def dependencies_layer(
    scope: Construct,
    construct_id: str,
    target: LayerTarget,
    requirements: Path = REQUIREMENTS,
    wheelhouse: Path = WHEELHOUSE,
) -> lambda_.LayerVersion:
    """A layer holding ``requirements`` installed for ``target`` from ``wheelhouse``."""
    bundling = PipLayerBundling(target, requirements, wheelhouse)
    code = lambda_.Code.from_asset(
        str(requirements.parent),
        # A custom hash: fingerprinting the source folder (the repo root) would be slow and meaningless.
        asset_hash_type=cdk.AssetHashType.CUSTOM,
        asset_hash=layer_fingerprint(target, requirements),
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
        description=f"{requirements.name} for {target.runtime.name} on {target.architecture.name}",
    )


def download_wheels(target: LayerTarget, wheelhouse: Path = WHEELHOUSE, requirements: Path = REQUIREMENTS) -> Path:
    """Download every wheel the layer needs for ``target`` into ``wheelhouse`` (needs the package index)."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    command = _pip(
        "download", "--requirement", str(requirements), "--dest", str(wheelhouse), *target.pip_platform_args()
    )
    subprocess.run(command, check=True)  # noqa: S603
    return wheelhouse


def main(argv: list[str]) -> int:
    if argv != ["download"]:
        print(f"usage: {DOWNLOAD_COMMAND}", file=sys.stderr)
        return 2
    from infra.functions import LAMBDA_TARGET

    wheelhouse = download_wheels(LAMBDA_TARGET)
    print(f"wheels for {LAMBDA_TARGET.runtime.name} on {LAMBDA_TARGET.architecture.name} in {wheelhouse}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
