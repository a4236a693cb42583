"""The tests run on this machine's Python; lint and types are also checked against the one Lambda runs."""

from __future__ import annotations

import re
import sys
import tomllib

from infra import REPO_ROOT
from infra.functions import LAMBDA_TARGET

MAKEFILE = (REPO_ROOT / "Makefile").read_text()


def _make_variable(name: str) -> str:
    match = re.search(rf"^{name} := (.+)$", MAKEFILE, re.MULTILINE)
    assert match, f"{name} is not set in the Makefile"
    return match.group(1).strip()


def _recipe(target: str) -> str:
    match = re.search(rf"^{target}:.*\n((?:\t.*\n|\s*#.*\n)+)", MAKEFILE, re.MULTILINE)
    assert match, f"no target {target}"
    return match.group(1)


def test_the_makefile_checks_against_the_python_lambda_runs() -> None:
    assert _make_variable("LAMBDA_PYTHON") == LAMBDA_TARGET.python_version == "3.14"
    assert "ruff check --target-version py$(subst .,,$(LAMBDA_PYTHON))" in _recipe("lint")
    assert "mypy --python-version $(LAMBDA_PYTHON) $(TYPED)" in _recipe("typecheck")
    assert re.search(r"^test: install lint typecheck\b", MAKEFILE, re.MULTILINE)


def test_the_floor_version_is_the_one_the_tests_run_on() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    floor = project["tool"]["mypy"]["python_version"]

    assert project["project"]["requires-python"] == f">={floor}"
    assert project["tool"]["ruff"]["target-version"] == "py" + floor.replace(".", "")
    assert sys.version_info[:2] >= tuple(int(part) for part in floor.split("."))
