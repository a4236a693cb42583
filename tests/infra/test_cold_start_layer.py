"""Cold start in the deployed form: the layer leaves the AWS SDK to the runtime and ships bytecode when it can."""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from packaging.requirements import Requirement

from infra.functions import LAMBDA_TARGET
from infra.layer import (
    NO_BYTECODE_WARNING,
    REQUIREMENTS,
    RUNTIME_PROVIDED,
    PipLayerBundling,
    WheelhouseError,
    bytecode_interpreter,
    layer_fingerprint,
    layer_requirements,
    requirement_name,
)
from tests.infra.conftest import Synthesized
from tests.infra.test_layer import PACKAGE, build_wheel

THIS_PYTHON = "{}.{}".format(*sys.version_info[:2])


def test_the_layer_leaves_out_the_sdk_the_runtime_ships_precompiled() -> None:
    names = {requirement_name(line) for line in layer_requirements()}

    assert {"boto3", "botocore", "s3transfer", "urllib3"} <= RUNTIME_PROVIDED
    assert not names & RUNTIME_PROVIDED
    assert {"aws-lambda-powertools", "pydantic", "pydantic-core", "httpx"} <= names
    # Everything else of requirements.txt is installed, each pinned exactly.
    every = {requirement_name(line) for line in REQUIREMENTS.read_text().splitlines() if line and line[0] != "#"}
    assert names == every - RUNTIME_PROVIDED
    assert all("==" in line for line in layer_requirements())


def test_every_layer_package_finds_its_dependencies_in_the_layer_or_the_runtime() -> None:
    # pip runs with --no-deps, so a dependency missing from both would fail only in Lambda.
    available = {requirement_name(line) for line in layer_requirements()} | RUNTIME_PROVIDED
    missing: dict[str, list[str]] = {}
    for line in layer_requirements():
        for requirement in metadata.requires(requirement_name(line)) or []:
            parsed = Requirement(requirement)
            if parsed.marker is not None and not parsed.marker.evaluate({"extra": "", "python_version": "3.14"}):
                continue
            if requirement_name(parsed.name) not in available:
                missing.setdefault(line, []).append(requirement)

    assert missing == {}


def test_pip_installs_the_layer_set_alone_without_resolving_dependencies() -> None:
    args = PipLayerBundling(LAMBDA_TARGET).install_command("/out")

    assert "--no-deps" in args
    assert "--requirement" not in args
    assert not {requirement_name(arg) for arg in args if "==" in arg} & RUNTIME_PROVIDED


def test_no_bytecode_without_the_runtimes_interpreter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a build machine without python3.14 (this one has 3.11 only)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("demo-layer-pkg==1.0\n")
    build_wheel(tmp_path / "wheels")

    # When the layer is bundled without an interpreter of the runtime's version
    PipLayerBundling(LAMBDA_TARGET, requirements, tmp_path / "wheels", interpreter=None).try_bundle(
        str(tmp_path / "out"), image=cdk.DockerImage.from_registry("unused")
    )

    # Then it holds sources only, and the build says what that costs
    assert not list((tmp_path / "out").rglob("*.pyc"))
    assert NO_BYTECODE_WARNING.format(version=LAMBDA_TARGET.python_version) in capsys.readouterr().err


def test_a_build_that_requires_bytecode_fails_without_the_runtimes_interpreter(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("demo-layer-pkg==1.0\n")
    build_wheel(tmp_path / "wheels")
    bundling = PipLayerBundling(LAMBDA_TARGET, requirements, tmp_path / "wheels", None, bytecode_required=True)

    with pytest.raises(WheelhouseError, match=r"layer_bytecode=required, but there is no python3\.14 on PATH"):
        bundling.try_bundle(str(tmp_path / "out"), image=cdk.DockerImage.from_registry("unused"))


def test_the_layer_ships_bytecode_of_the_runtimes_version_when_the_builder_has_it(tmp_path: Path) -> None:
    # Given a builder with an interpreter of the runtime's version (this machine's own stands in for 3.14)
    interpreter = bytecode_interpreter(THIS_PYTHON)
    assert interpreter is not None
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("demo-layer-pkg==1.0\n")
    build_wheel(tmp_path / "wheels")

    # When the layer is bundled
    PipLayerBundling(LAMBDA_TARGET, requirements, tmp_path / "wheels", interpreter).try_bundle(
        str(tmp_path / "out"), image=cdk.DockerImage.from_registry("unused")
    )

    # Then each module has bytecode for exactly that version, never checked against the source's file time
    tag = sys.implementation.cache_tag
    (pyc,) = (tmp_path / "out" / "python" / PACKAGE / "__pycache__").glob("*.pyc")
    assert pyc.name == f"__init__.{tag}.pyc"
    flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
    assert flags == 0b01  # hash-based, check_source off: PEP 552 unchecked-hash


def test_only_an_interpreter_of_the_runtimes_exact_version_compiles_the_layer() -> None:
    assert bytecode_interpreter(THIS_PYTHON) is not None
    assert bytecode_interpreter("3.99") is None


def test_a_layer_with_bytecode_replaces_one_without() -> None:
    assert layer_fingerprint(LAMBDA_TARGET, bytecode=True) != layer_fingerprint(LAMBDA_TARGET)


def _functions(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.resources("AWS::Lambda::Function", own=True)


def test_every_function_runs_python_3_14_on_arm64_with_the_one_layer(synthesized: Synthesized) -> None:
    (layer_id,) = synthesized.resources("AWS::Lambda::LayerVersion")
    layer = synthesized.template_json["Resources"][layer_id]["Properties"]

    assert layer["CompatibleRuntimes"] == ["python3.14"]
    assert layer["CompatibleArchitectures"] == ["arm64"]
    # Whether it ships bytecode depends on the machine that synthesizes (this one has no python3.14).
    bytecode = "with" if bytecode_interpreter("3.14") else "without"
    assert (
        layer["Description"]
        == f"requirements.txt less the runtime's AWS SDK, for python3.14 on arm64, {bytecode} bytecode"
    )
    for function in _functions(synthesized).values():
        properties = function["Properties"]
        assert properties["Runtime"] == "python3.14"
        assert properties["Architectures"] == ["arm64"]
        assert properties["Layers"] == [{"Ref": layer_id}]
