"""Who may read and cancel a requeue batch: a key that covers every one of its workspaces."""

from __future__ import annotations

import pytest

from shared.access import Caller, ScopeKind
from shared.batches.models import BatchSelection, CreatedBy, RequeueBatch
from shared.batches.service import covers_batch

# Two workspaces of organization org_a, one of org_b, all under partner ptn_1.
BATCH = RequeueBatch(
    batch_id="rb_1",
    partner_id="ptn_1",
    organization_ids=["org_a"],
    selection=BatchSelection(workspace_ids=["ws_a1", "ws_a2"]),
    created_at="2026-12-02T08:00:00.000Z",
    created_by=CreatedBy(scope=ScopeKind.PARTNER, key_id="key_1"),
)
ONE_WORKSPACE = BATCH.model_copy(update={"selection": BatchSelection(workspace_ids=["ws_a1"])})
TWO_ORGANIZATIONS = BATCH.model_copy(
    update={"organization_ids": ["org_a", "org_b"], "selection": BatchSelection(workspace_ids=["ws_a1", "ws_b1"])}
)


def caller(scope: ScopeKind, scope_id: str) -> Caller:
    return Caller(scope=scope, scope_id=scope_id, key_id="key_x")


@pytest.mark.parametrize(
    ("batch", "scope", "scope_id", "allowed"),
    [
        (ONE_WORKSPACE, ScopeKind.WORKSPACE, "ws_a1", True),
        (ONE_WORKSPACE, ScopeKind.WORKSPACE, "ws_a2", False),
        (BATCH, ScopeKind.WORKSPACE, "ws_a1", False),  # it also has ws_a2
        (BATCH, ScopeKind.ORGANIZATION, "org_a", True),
        (BATCH, ScopeKind.ORGANIZATION, "org_b", False),
        (TWO_ORGANIZATIONS, ScopeKind.ORGANIZATION, "org_a", False),
        (TWO_ORGANIZATIONS, ScopeKind.PARTNER, "ptn_1", True),
        (BATCH, ScopeKind.PARTNER, "ptn_2", False),
        (BATCH.model_copy(update={"organization_ids": []}), ScopeKind.ORGANIZATION, "org_a", False),
    ],
)
def test_a_key_covers_a_batch_only_when_it_covers_all_its_workspaces(
    batch: RequeueBatch, scope: ScopeKind, scope_id: str, allowed: bool
) -> None:
    assert covers_batch(caller(scope, scope_id), batch) is allowed
