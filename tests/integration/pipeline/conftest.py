"""Fixtures for the pipeline's providers: an artifacts bucket in moto, jobs, and an HTTP server on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest

from shared.jobs.models import Job, JobStatus

BUCKET = "gensail-artifacts-test"


@pytest.fixture
def bucket(aws: None) -> str:
    """An empty artifacts bucket in the moto account."""
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    return BUCKET


def make_job(**source_metadata: Any) -> Job:
    """A job on its way through the pipeline, carrying ``source_metadata`` as given."""
    duration = source_metadata.pop("duration_seconds", 60)
    return Job(
        job_id="1732000000123",
        partner_id="ptn_0",
        organization_id="org_00",
        workspace_id="ws_000",
        status=JobStatus.TRANSCRIBING,
        created_at="2026-11-20T10:00:00.000Z",
        updated_at="2026-11-20T10:00:00.000Z",
        source="callrail",
        source_id="CAL8154748ae6bd4e278a7cddd38a662f4f",
        duration_seconds=duration,
        source_metadata=source_metadata,
    )


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class LoopbackServer:
    """A real HTTP server on 127.0.0.1: each path answers its queued replies in order (the last one repeats)."""

    base_url: str
    replies: dict[str, list[Reply]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base_url + path

    def reply(self, path: str, *replies: Reply) -> str:
        self.replies[path] = list(replies)
        return self.url(path)

    def next_reply(self, path: str) -> Reply:
        queue = self.replies.get(path)
        if not queue:
            return Reply(status=404, body=b"not found")
        return queue.pop(0) if len(queue) > 1 else queue[0]


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    """An HTTP server on a free loopback port, stopped after the test."""
    state = LoopbackServer(base_url="")
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            state.received.append(Received(self.command, self.path, dict(self.headers.items()), body))
            reply = state.next_reply(path)
            if reply.delay:
                stop.wait(reply.delay)
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        do_GET = _answer
        do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        stop.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
