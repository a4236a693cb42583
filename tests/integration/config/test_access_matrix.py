"""Every config route x every key scope x own / foreign tenant: a key reaches its own levels and nothing else."""

from __future__ import annotations

import pytest

from tests.conftest import Tenants
from tests.integration.api.conftest import ApiCall, ApiReply

MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}
PATCH = {"processing": {"filters": {"min_duration_seconds": 12}}}
# The levels above and at workspace ws_000, and a key per scope that owns them, or a sibling's that does not.
TARGETS = [("workspaces", "ws_000"), ("organizations", "org_00"), ("partners", "ptn_0")]
OWN = {"workspace": "ws_000", "organization": "org_00", "partner": "ptn_0"}
FOREIGN = {"workspace": "ws_001", "organization": "org_01", "partner": "ptn_1"}
# What each own key may reach: its tenant and the tenants below it.
REACHES = {
    "workspace": {"workspaces"},
    "organization": {"workspaces", "organizations"},
    "partner": {"workspaces", "organizations", "partners"},
}
LEVEL_ROUTES = ["get", "patch", "history"]
# Every route with every level it takes: effective settings exist for workspaces only; a preview changes any
# level the workspace ws_000 inherits from.
CASES = [
    *((route, folder, tenant_id) for route in [*LEVEL_ROUTES, "preview"] for folder, tenant_id in TARGETS),
    ("effective", *TARGETS[0]),
]


def _call(api: ApiCall, tenants: Tenants, key_tenant: str, route: str, folder: str, tenant_id: str) -> ApiReply:
    caller = tenants.callers[key_tenant]
    path = f"/api/v1/config/{folder}/{tenant_id}"
    if route == "get":
        return api("GET", path, caller)
    if route == "patch":
        return api("PATCH", path, caller, PATCH, headers=MERGE_PATCH)
    if route == "history":
        return api("GET", f"{path}/history", caller)
    if route == "effective":
        return api("GET", f"{path}/effective", caller)
    level = folder.removesuffix("s")
    return api(
        "POST", "/api/v1/config/workspaces/ws_000/preview", caller, {"level": level, "id": tenant_id, "patch": PATCH}
    )


@pytest.mark.parametrize("scope", sorted(OWN))
@pytest.mark.parametrize(("route", "folder", "tenant_id"), CASES)
def test_own_key_reaches_its_levels_and_not_the_ones_above(
    api: ApiCall, tenants: Tenants, route: str, scope: str, folder: str, tenant_id: str
) -> None:
    reply = _call(api, tenants, OWN[scope], route, folder, tenant_id)

    if folder in REACHES[scope]:
        assert reply.status == 200, reply.body
    else:
        assert (reply.status, reply.body["code"]) == (403, "forbidden")


@pytest.mark.parametrize("scope", sorted(FOREIGN))
@pytest.mark.parametrize(("route", "folder", "tenant_id"), CASES)
def test_foreign_key_gets_403_everywhere(
    api: ApiCall, tenants: Tenants, route: str, scope: str, folder: str, tenant_id: str
) -> None:
    reply = _call(api, tenants, FOREIGN[scope], route, folder, tenant_id)

    assert (reply.status, reply.body["code"]) == (403, "forbidden")
    assert not {"config", "settings", "changes", "by_reason"} & set(reply.body)


def test_a_forbidden_patch_changes_nothing(api: ApiCall, tenants: Tenants) -> None:
    for key_tenant in FOREIGN.values():
        _call(api, tenants, key_tenant, "patch", "workspaces", "ws_000")

    reply = _call(api, tenants, "ws_000", "get", "workspaces", "ws_000")

    assert (reply.body["version"], reply.body["config"]) == (0, {})


@pytest.mark.parametrize("route", LEVEL_ROUTES)
@pytest.mark.parametrize("folder", ["workspaces", "organizations", "partners"])
def test_unknown_ids_are_refused_like_foreign_ones(api: ApiCall, tenants: Tenants, route: str, folder: str) -> None:
    reply = _call(api, tenants, "ptn_0", route, folder, "nope_123")

    assert (reply.status, reply.body["code"]) == (403, "forbidden")


def test_a_preview_of_a_level_the_workspace_does_not_inherit_from_is_refused(api: ApiCall, tenants: Tenants) -> None:
    # The partner key reaches org_01, but workspace ws_000 does not inherit from it
    reply = api(
        "POST",
        "/api/v1/config/workspaces/ws_000/preview",
        tenants.callers["ptn_0"],
        {"level": "organization", "id": "org_01", "patch": PATCH},
    )

    assert (reply.status, reply.body["code"]) == (403, "forbidden")
