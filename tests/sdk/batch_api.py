"""A stand-in of the requeue batch routes and the job lookup, as issue 11's HTTP contract words them.

It answers through ``httpx.MockTransport`` and records every request. A batch advances one page per read
(``GET``): ``pending``, then ``running`` with ``PAGE`` more jobs matched each time, then ``completed`` once
``matched`` reaches its ``jobs``; a cancel turns it ``cancelled`` at its next read.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

WORKSPACE = "ws_main"
BUSY_WORKSPACE = "ws_busy"
FOREIGN_WORKSPACE = "ws_foreign"
PAGE = 4
SKIPPED_BY_REASON = {"duration_below_minimum": 10, "rate_limit": 3}
JOB = {
    "job_id": "42",
    "partner_id": "ptn_1",
    "organization_id": "org_1",
    "workspace_id": WORKSPACE,
    "status": "skipped",
    "skipped_reason": "duration_below_minimum:12<30",
    "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-01T00:00:00Z",
    "source": "callrail",
    "source_id": "CAL123",
}
_STATUS_OF = {
    "validation_error": 400,
    "workspace_required": 400,
    "forbidden": 403,
    "job_not_found": 404,
    "batch_not_found": 404,
    "batch_in_progress": 409,
    "idempotency_key_reused": 409,
    "batch_finished": 409,
}


def problem(code: str, detail: str = "") -> httpx.Response:
    status = _STATUS_OF[code]
    body = {"type": f"about:{code}", "title": code, "status": status, "detail": detail or code, "code": code}
    return httpx.Response(status, json=body, headers={"Content-Type": "application/problem+json"})


class BatchApi:
    """The batch routes of one workspace key's tenant (``WORKSPACE``, ``BUSY_WORKSPACE``)."""

    def __init__(self, jobs: int = 10) -> None:
        self.requests: list[httpx.Request] = []
        self.batches: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, int] = {}
        self.cancelled: set[str] = set()
        self.idempotency: dict[str, tuple[bytes, str]] = {}
        self.jobs_per_batch = jobs

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path.removeprefix("/api/v1")
        routes = {
            ("GET", "/jobs/lookup"): self._lookup,
            ("POST", "/requeue-batches"): self._create,
            ("GET", "/requeue-batches"): self._list,
        }
        if (request.method, path) in routes:
            return routes[request.method, path](request)
        if path.startswith("/config/workspaces/") and path.endswith("/preview"):
            by_reason = [{"reason": r, "skipped": n} for r, n in SKIPPED_BY_REASON.items()]
            return httpx.Response(200, json=_preview(path.split("/")[3], by_reason))
        return self._batch(request, path.split("/"))

    def _batch(self, request: httpx.Request, parts: list[str]) -> httpx.Response:
        batch = self.batches.get(parts[2]) if len(parts) > 2 and parts[1] == "requeue-batches" else None
        if batch is None:
            return problem("batch_not_found", f"No batch {parts[-1]}.")
        if request.method == "GET" and len(parts) == 3:
            return httpx.Response(200, json=self._advance(batch))
        if (request.method, parts[3:]) != ("POST", ["cancel"]):
            return httpx.Response(405, json={})
        if batch["status"] in {"completed", "cancelled", "failed"}:
            return problem("batch_finished", f"Batch {batch['batch_id']} is {batch['status']}.")
        self.cancelled.add(batch["batch_id"])
        return httpx.Response(202, json=batch)

    def _lookup(self, request: httpx.Request) -> httpx.Response:
        if request.url.params.get("source") != "callrail" or "source_id" not in request.url.params:
            return problem("validation_error")
        if request.url.params["source_id"] != JOB["source_id"]:
            return problem("job_not_found")
        return httpx.Response(200, json=JOB)

    def _create(self, request: httpx.Request) -> httpx.Response:
        key = request.headers.get("idempotency-key")
        if key in self.idempotency:
            body, batch_id = self.idempotency[key]
            if body != request.content:
                return problem("idempotency_key_reused")
            return httpx.Response(202, json=self.batches[batch_id])
        fields: dict[str, Any] = json.loads(request.content)
        workspaces = fields.get("workspace_ids", [WORKSPACE])
        if FOREIGN_WORKSPACE in workspaces:
            return problem("forbidden")
        if BUSY_WORKSPACE in workspaces:
            return problem("batch_in_progress", f"Workspace {BUSY_WORKSPACE} has batch rb_other running.")
        batch_id = f"rb_{len(self.batches) + 1}"
        selection = dict.fromkeys(("skip_reasons", "skipped_after", "skipped_before", "job_ids", "source_ids"))
        selection |= {"workspace_ids": workspaces, "only_passing": True, "max_jobs": 100_000}
        selection |= {name: value for name, value in fields.items() if name not in {"workspace_ids", "dry_run"}}
        self.batches[batch_id] = {
            "batch_id": batch_id,
            "status": "pending",
            "dry_run": fields.get("dry_run", False),
            "selection": selection,
            "counts": _counts(0, dry_run=False),
            "created_at": "2026-01-01T00:00:00Z",
            "created_by": {"scope": "workspace", "key_id": "key_1"},
            "started_at": None,
            "finished_at": None,
        }
        self.jobs[batch_id] = self.jobs_per_batch
        if key is not None:
            self.idempotency[key] = (request.content, batch_id)
        return httpx.Response(202, json=self.batches[batch_id])

    def _advance(self, batch: dict[str, Any]) -> dict[str, Any]:
        if batch["status"] in {"completed", "cancelled", "failed"}:
            return batch
        if batch["batch_id"] in self.cancelled:
            batch |= {"status": "cancelled", "finished_at": "2026-01-01T00:01:00Z"}
        elif batch["status"] == "pending":
            batch |= {"status": "running", "started_at": "2026-01-01T00:00:01Z"}
        else:
            matched = min(batch["counts"]["matched"] + PAGE, self.jobs[batch["batch_id"]])
            batch["counts"] = _counts(matched, dry_run=batch["dry_run"])
            if matched == self.jobs[batch["batch_id"]]:
                batch |= {"status": "completed", "finished_at": "2026-01-01T00:01:00Z"}
        return batch

    def _list(self, request: httpx.Request) -> httpx.Response:
        newest_first = list(reversed(self.batches.values()))
        limit = int(request.url.params.get("limit", "50"))
        start = int(request.url.params.get("cursor", "0"))
        page = newest_first[start : start + limit]
        more = start + limit < len(newest_first)
        return httpx.Response(200, json={"batches": page, "next_cursor": str(start + limit) if more else None})


def _counts(matched: int, *, dry_run: bool) -> dict[str, int]:
    passing = matched - matched // 4
    requeued = 0 if dry_run else passing
    return {
        "matched": matched,
        "requeued": requeued,
        "would_pass": passing,
        "would_skip": matched - passing,
        "not_skipped_anymore": 0,
        "failed": 0,
    }


def _preview(workspace_id: str, by_reason: list[dict[str, Any]]) -> dict[str, Any]:
    stays = [{"would_pass": 0, "would_stay_skipped": group["skipped"], "sample_job_ids": []} for group in by_reason]
    groups = [group | more for group, more in zip(by_reason, stays, strict=True)]
    skipped = sum(group["skipped"] for group in by_reason)
    return {
        "workspace_id": workspace_id,
        "filters_before": {},
        "filters_after": {},
        "skipped_jobs": skipped,
        "would_pass": 0,
        "would_stay_skipped": skipped,
        "by_reason": groups,
    }
