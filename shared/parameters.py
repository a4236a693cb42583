"""Where a stage keeps its SSM parameters: ``/gensail/{stage}/config/...`` and ``/gensail/{stage}/secrets/...``.

The one definition of the layout. The CDK app builds a stage's paths with ``ParameterPaths.for_stage``; a
function knows only its ``CONFIG_PREFIX`` and finds the rest with ``ParameterPaths.of_config_prefix``, so the
config prefix is the single value that carries the stage into the code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PARAMETER_ROOT = "/gensail"
CONFIG_FOLDER = "config"
SECRETS_FOLDER = "secrets"
# The two kinds of secret, each a folder of the secrets path, each read by its own functions only.
WEBHOOK_SECRETS_FOLDER = "webhooks"
CALLRAIL_KEYS_FOLDER = "callrail"
# A parameter name below a folder: SSM's characters, no empty segment, no way back up.
_NAME = r"[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*"


@dataclass(frozen=True)
class ParameterPaths:
    """The parameter paths of one stage (``root`` is ``/gensail/{stage}``); folders end without a slash."""

    root: str

    @classmethod
    def for_stage(cls, stage: str) -> ParameterPaths:
        return cls(f"{PARAMETER_ROOT}/{stage}")

    @classmethod
    def of_config_prefix(cls, config_prefix: str) -> ParameterPaths:
        """The paths of the stage whose config documents live under ``config_prefix``."""
        prefix = config_prefix.rstrip("/")
        root, _, folder = prefix.rpartition("/")
        if folder != CONFIG_FOLDER or not root.startswith("/"):
            raise ValueError(f"a config prefix ends in /{CONFIG_FOLDER}, not {config_prefix!r}")
        return cls(root)

    @property
    def config(self) -> str:
        return f"{self.root}/{CONFIG_FOLDER}"

    @property
    def secrets(self) -> str:
        return f"{self.root}/{SECRETS_FOLDER}"

    @property
    def webhook_secrets(self) -> str:
        """The webhook signing secrets: the only secrets the publish stage may read."""
        return f"{self.secrets}/{WEBHOOK_SECRETS_FOLDER}"

    @property
    def callrail_keys(self) -> str:
        """The CallRail API keys: the only secrets the poller and the recording download may read."""
        return f"{self.secrets}/{CALLRAIL_KEYS_FOLDER}"


def _no_dot_segments(name: str) -> bool:
    """SSM names are not paths to resolve, but a ``..`` segment must not even look like a way out of a folder."""
    return all(segment.strip(".") for segment in name.split("/")[1:])


def is_below(name: str, folder: str) -> bool:
    """Whether parameter ``name`` lies below ``folder`` (not the folder itself, no ``..`` or empty segment)."""
    return re.fullmatch(re.escape(folder.rstrip("/")) + "/" + _NAME, name) is not None and _no_dot_segments(name)


def is_secret_of_kind(name: str, kind_folder: str) -> bool:
    """Whether ``name`` is a secret of this kind in *some* stage (``/.../secrets/{kind}/NAME``).

    For checks that do not know the stage; IAM then limits every function to its own stage's secrets.
    """
    pattern = rf"(/[A-Za-z0-9_.\-]+)+/{SECRETS_FOLDER}/{re.escape(kind_folder)}/{_NAME}"
    return re.fullmatch(pattern, name) is not None and _no_dot_segments(name)
