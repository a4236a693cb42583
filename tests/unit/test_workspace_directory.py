"""Workspace ancestry for a batch's workspaces: read together, cached, unknown ones answered as None."""

from __future__ import annotations

from shared.access import TenantPath
from shared.jobs.service import WorkspaceDirectory

PATHS = {
    f"ws_{index}": TenantPath(partner_id="ptn_1", organization_id="org_1", workspace_id=f"ws_{index}")
    for index in range(3)
}


def test_uncached_workspaces_are_read_in_one_call_and_kept_in_order() -> None:
    reads: list[list[str]] = []

    def bulk(workspace_ids: list[str]) -> dict[str, TenantPath]:
        reads.append(workspace_ids)
        return {workspace_id: PATHS[workspace_id] for workspace_id in workspace_ids if workspace_id in PATHS}

    directory = WorkspaceDirectory(PATHS.get, ttl_seconds=60, bulk_lookup=bulk)
    directory.path_of("ws_1")  # cached one by one

    paths = directory.paths_of(["ws_2", "ws_1", "ws_nope", "ws_0"])
    again = directory.paths_of(["ws_0", "ws_2"])

    assert list(paths) == ["ws_2", "ws_1", "ws_nope", "ws_0"]
    assert paths["ws_nope"] is None
    assert paths["ws_2"] == PATHS["ws_2"]
    assert reads == [["ws_2", "ws_nope", "ws_0"]]  # ws_1 came from the cache; the second call read nothing
    assert again == {"ws_0": PATHS["ws_0"], "ws_2": PATHS["ws_2"]}


def test_without_a_bulk_lookup_workspaces_are_read_one_by_one() -> None:
    directory = WorkspaceDirectory(PATHS.get, ttl_seconds=60)

    assert directory.paths_of(["ws_0", "ws_9"]) == {"ws_0": PATHS["ws_0"], "ws_9": None}
