"""The SAMPLE accounts the local runtime opens on the CallRail sample server, one per demo workspace: what each
serves and the ``integrations.callrail`` settings its workspace polls it with.

Each account starts with :data:`SAMPLE_CALLS_PER_ACCOUNT` calls within the first poll's 24-hour look-back. Two
workspaces, by name, have settings of their own (:data:`SAMPLE_SETTINGS`): one skips every call on ingest, one
may queue only :data:`SAMPLE_LOW_DAILY_LIMIT` calls a day.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from infra.sample.callrail import CallRailSampleServer

SAMPLE_CALLS_PER_ACCOUNT = 10
SAMPLE_LOW_DAILY_LIMIT = 3
SETTING_DEFAULT = "default"
SETTING_SKIP_ALL = "skip_all_on_ingest"
SETTING_LOW_LIMIT = f"max_calls_per_workspace={SAMPLE_LOW_DAILY_LIMIT}"
SAMPLE_SETTINGS: dict[str, tuple[str, dict[str, Any]]] = {  # workspace name -> (setting, integration settings)
    "Summit Roofing - Main Office": (SETTING_SKIP_ALL, {"skip_all_on_ingest": True}),
    "Maple Veterinary - Main Office": (SETTING_LOW_LIMIT, {"max_calls_per_workspace": SAMPLE_LOW_DAILY_LIMIT}),
}


@dataclass
class SampleAccount:
    """A SAMPLE account of the sample server, wired to one demo workspace."""

    account_id: str
    workspace_id: str
    workspace_name: str
    api_key_parameter: str  # the SecureString holding the key (integrations.callrail.api_key_parameter)
    api_key: str  # the sample server's key for this account (loopback only, new on every start)
    setting: str  # SETTING_DEFAULT, SETTING_SKIP_ALL or SETTING_LOW_LIMIT
    initial_calls: int = SAMPLE_CALLS_PER_ACCOUNT

    def integration(self) -> dict[str, Any]:
        """The workspace's ``integrations.callrail`` settings that poll this account."""
        extra = SAMPLE_SETTINGS.get(self.workspace_name, (SETTING_DEFAULT, {}))[1]
        return {"enabled": True, "account_id": self.account_id, "api_key_parameter": self.api_key_parameter, **extra}


def open_sample_account(
    server: CallRailSampleServer, workspace_id: str, workspace_name: str, keys_folder: str, seed: int
) -> SampleAccount:
    """A new account on ``server`` for the workspace, its key to be stored under ``keys_folder``."""
    account_id = f"ACC{hashlib.sha256(f'{workspace_id}:{seed}'.encode()).hexdigest()[:32]}"
    api_key = secrets.token_hex(16)
    server.add_account(
        account_id, api_key, calls=SAMPLE_CALLS_PER_ACCOUNT, span=timedelta(hours=23), transcriptions=True, seed=seed
    )
    setting = SAMPLE_SETTINGS.get(workspace_name, (SETTING_DEFAULT, {}))[0]
    return SampleAccount(account_id, workspace_id, workspace_name, f"{keys_folder}/{account_id}", api_key, setting)
