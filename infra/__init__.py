"""The Gensail CDK app: one stack composed of constructs per concern (data, functions, API, layer, cdk-nag)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
