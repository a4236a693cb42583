"""Fixtures of the local runtime's tests: the synthesized template (once per session) and a running runtime."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from infra.local.backend import MotoServer
from infra.local.runtime import LocalRuntime, start
from infra.local.template import AppTemplate
from infra.naming import DEFAULT_STACK_NAME


def moto_client(service: str, url: str) -> Any:
    """A client of the embedded moto server at ``url``."""
    return boto3.client(
        service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """An embedded moto server of the module's own, for the runtime's pieces tested alone."""
    server = MotoServer()
    server.start()
    yield server.url
    server.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def template_path(synthesized_app: Path) -> Path:
    """The stage stack's template of the app synthesized once per test process (``tests/conftest.py``);
    ``test_main.py`` runs ``python -m infra.local`` once the way ``make run`` does, synthesizing for itself."""
    return synthesized_app / f"{DEFAULT_STACK_NAME}.template.json"


@pytest.fixture(scope="session")
def app_template(template_path: Path) -> AppTemplate:
    return AppTemplate.load(template_path)


@pytest.fixture(scope="module")
def runtime(template_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRuntime]:
    """The local runtime on a free port, with its demo file in a temporary folder.

    Without the CallRail sample server: its ingested calls would run through the pipeline beside what these tests
    watch (test_ingestion.py starts its own runtime with it).
    """
    demo_file = tmp_path_factory.mktemp("local") / "demo.json"
    handle = start(port=0, template_path=template_path, demo_file=demo_file, callrail_sample=False)
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def demo(runtime: LocalRuntime) -> dict[str, Any]:
    assert runtime.demo_file is not None
    document: dict[str, Any] = json.loads(runtime.demo_file.read_text(encoding="utf-8"))
    return document


@pytest.fixture
def api(runtime: LocalRuntime) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=runtime.api_url, timeout=10) as client:
        yield client
