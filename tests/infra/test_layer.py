"""The dependencies layer: built offline by pip from a local wheelhouse, for the functions' platform."""

from __future__ import annotations

import base64
import hashlib
import re
import zipfile
from pathlib import Path

import aws_cdk as cdk
import pytest

from infra.functions import LAMBDA_TARGET
from infra.layer import DOWNLOAD_COMMAND, PipLayerBundling, WheelhouseError, dependencies_layer, layer_fingerprint

PACKAGE = "demo_layer_pkg"


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(wheelhouse: Path, version: str = "1.0") -> Path:
    """A minimal pure-Python wheel, made by hand so the test needs no index and no build backend."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    dist_info = f"{PACKAGE}-{version}.dist-info"
    files = {
        f"{PACKAGE}/__init__.py": f"VERSION = {version!r}\n".encode(),
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: demo-layer-pkg\nVersion: {version}\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "\n".join([*(_record_line(name, data) for name, data in files.items()), f"{dist_info}/RECORD,,"])
    wheel = wheelhouse / f"{PACKAGE}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr(f"{dist_info}/RECORD", record + "\n")
    return wheel


@pytest.fixture
def requirements(tmp_path: Path) -> Path:
    path = tmp_path / "src" / "requirements.txt"
    path.parent.mkdir()
    path.write_text("demo-layer-pkg==1.0\n")
    return path


def test_pip_targets_the_functions_runtime_and_architecture() -> None:
    args = PipLayerBundling(LAMBDA_TARGET).install_command("/out")

    assert args[args.index("--platform") + 1] == "manylinux2014_aarch64"
    assert args[args.index("--python-version") + 1] == LAMBDA_TARGET.runtime.name.removeprefix("python")
    assert args[args.index("--target") + 1] == "/out/python"
    assert {"--no-index", "--only-binary=:all:", "--no-compile"} <= set(args)


def test_installs_into_the_layer_python_folder_from_the_wheelhouse_only(tmp_path: Path, requirements: Path) -> None:
    build_wheel(tmp_path / "wheels")
    out = tmp_path / "out"

    bundled = PipLayerBundling(LAMBDA_TARGET, requirements, tmp_path / "wheels").try_bundle(
        str(out), image=cdk.DockerImage.from_registry("unused")
    )

    assert bundled is True
    assert (out / "python" / PACKAGE / "__init__.py").read_text() == "VERSION = '1.0'\n"
    assert not list(out.rglob("*.pyc"))


@pytest.mark.parametrize(
    ("stale", "names"), [(False, re.escape(DOWNLOAD_COMMAND)), (True, "Refresh it with")], ids=["missing", "stale"]
)
def test_a_missing_or_stale_wheelhouse_names_the_command_that_fills_it(
    tmp_path: Path, requirements: Path, stale: bool, names: str
) -> None:
    if stale:
        build_wheel(tmp_path / "wheels", version="0.9")
    bundling = PipLayerBundling(LAMBDA_TARGET, requirements, tmp_path / "wheels")

    with pytest.raises(WheelhouseError, match=names):
        bundling.try_bundle(str(tmp_path / "out"), image=cdk.DockerImage.from_registry("unused"))


def test_the_layer_changes_when_requirements_change(tmp_path: Path, requirements: Path) -> None:
    before = layer_fingerprint(LAMBDA_TARGET, requirements)
    requirements.write_text("demo-layer-pkg==1.1\n")

    assert layer_fingerprint(LAMBDA_TARGET, requirements) != before


@pytest.mark.slow
def test_synth_bundles_the_layer_offline_without_docker(tmp_path: Path, requirements: Path) -> None:
    # Given a wheelhouse, when an app with the layer synthesizes with bundling on
    build_wheel(tmp_path / "wheels")
    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    dependencies_layer(cdk.Stack(app, "LayerOnly"), "Layer", LAMBDA_TARGET, requirements, tmp_path / "wheels")
    app.synth()

    # Then the layer asset holds the package under python/, where Lambda puts layers on sys.path
    (asset,) = (tmp_path / "cdk.out").glob("asset.*")
    assert (asset / "python" / PACKAGE / "__init__.py").is_file()


@pytest.mark.slow
def test_synth_fails_clearly_without_a_wheelhouse(tmp_path: Path, requirements: Path) -> None:
    stack = cdk.Stack(cdk.App(outdir=str(tmp_path / "cdk.out")), "LayerOnly")

    # Assets are bundled as their construct is created.
    with pytest.raises(RuntimeError, match=re.escape(DOWNLOAD_COMMAND)):
        dependencies_layer(stack, "Layer", LAMBDA_TARGET, requirements, tmp_path / "absent")
