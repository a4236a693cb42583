"""The validated shape of the effective configuration, with the platform defaults.

Every model forbids unknown keys: a misspelt key in a document is an error naming the parameter, not a
setting that silently does nothing.
"""

from __future__ import annotations

import ipaddress
from typing import Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from shared.parameters import WEBHOOK_SECRETS_FOLDER, ParameterPaths, is_below, is_secret_of_kind

# Claude Haiku 4.5 through the global cross-region inference profile: callable from every commercial region that
# offers Bedrock (recent Anthropic models answer "on-demand throughput isn't supported" without a profile).
DEFAULT_BEDROCK_MODEL = "global.anthropic.claude-haiku-4-5-20251001-v1:0"
MAX_WEBHOOK_URLS = 10  # a publish delivers to every URL at once, one thread each
# Validation context key: the ``ParameterPaths`` of the stage whose config is validated (see ``validation_context``).
PATHS_CONTEXT_KEY = "parameter_paths"
# Plain http is allowed for these hosts only: the local runtime's webhook receiver listens on loopback.
LOOPBACK_NAMES = frozenset({"localhost"})


def validation_context(paths: ParameterPaths | None) -> dict[str, ParameterPaths] | None:
    """The pydantic context that checks secret names against one stage's paths (``None``: any stage's layout)."""
    return {PATHS_CONTEXT_KEY: paths} if paths is not None else None


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Filters(_Section):
    min_duration_seconds: int = Field(default=30, ge=0, description="Calls shorter than this are skipped.")


class Transcription(_Section):
    provider: Literal["source", "aws_transcribe"] = Field(
        default="source",
        description="`source`: the transcript that came with the call; `aws_transcribe`: Amazon Transcribe.",
    )
    language_code: str = Field(default="en-US", description="Language of the calls, for Amazon Transcribe.")


class Analysis(_Section):
    provider: Literal["builtin", "bedrock"] = Field(
        default="builtin", description="`builtin`: offline statistics and lexicon sentiment; `bedrock`: Amazon Bedrock."
    )
    keywords: list[str] = Field(default_factory=list, description="Words and phrases to count in every transcript.")
    bedrock_model_id: str = Field(
        default=DEFAULT_BEDROCK_MODEL,
        description="Model id for the `bedrock` provider: a cross-region inference profile (`global.`, `us.`, "
        "`eu.`, `apac.` prefixes) or a model id that supports on-demand throughput in the stage's region.",
    )


class Webhooks(_Section):
    urls: list[str] = Field(
        default_factory=list,
        max_length=MAX_WEBHOOK_URLS,
        description="HTTPS endpoints that receive every published result (plain http only for loopback hosts).",
    )
    secret_parameter: str | None = Field(
        default=None,
        description="Name of the SecureString parameter holding the signing secret, under the stage's "
        f"secrets path, folder {WEBHOOK_SECRETS_FOLDER}/ (e.g. /gensail/prod/secrets/webhooks/acme).",
    )

    @field_validator("urls")
    @classmethod
    def _https_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            try:
                parsed = urlparse(url)
                parsed.port  # noqa: B018 - raises for a port out of range
            except ValueError as error:
                raise ValueError(f"{url!r} is not a valid URL ({error})") from None
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                raise ValueError(f"{url!r} is not an https URL with a host")
            # Signed results travel to these URLs: in clear text only to this machine (the local runtime).
            if parsed.scheme == "http" and not _is_loopback(parsed.hostname):
                raise ValueError(f"{url!r} must use https (plain http is allowed for loopback hosts only)")
        return urls

    @field_validator("secret_parameter")
    @classmethod
    def _webhook_secret(cls, name: str | None, info: ValidationInfo) -> str | None:
        if name is None:
            return None
        paths = (info.context or {}).get(PATHS_CONTEXT_KEY)
        if isinstance(paths, ParameterPaths):
            if not is_below(name, paths.webhook_secrets):
                raise ValueError(f"{name!r} is not under {paths.webhook_secrets}/, the only secrets a webhook may use")
        elif not is_secret_of_kind(name, WEBHOOK_SECRETS_FOLDER):
            raise ValueError(f"{name!r} is not under a /gensail/{{stage}}/secrets/{WEBHOOK_SECRETS_FOLDER}/ path")
        return name


class Processing(_Section):
    filters: Filters = Filters()
    transcription: Transcription = Transcription()
    analysis: Analysis = Analysis()
    webhooks: Webhooks = Webhooks()


class CallRailIntegration(_Section):
    enabled: bool = False
    account_id: str | None = None
    company_id: str | None = None
    api_key_parameter: str | None = Field(
        default=None,
        description="Name of the SecureString parameter (under the stage's secrets path, folder callrail/) "
        "holding the account's CallRail API key.",
    )
    skip_all_on_ingest: bool = Field(default=False, description="Create every ingested call as skipped.")
    max_calls_per_workspace: int = Field(
        default=500, ge=0, description="Calls a workspace may ingest per UTC day; the rest are skipped."
    )
    max_total_calls: int = Field(
        default=5000,
        ge=0,
        description="Calls the whole partner may ingest per UTC day; the rest are skipped. Set at platform or "
        "partner level only.",
    )
    overlap_minutes: int = Field(
        default=15, ge=0, le=1440, description="Each poll re-reads this much before the cursor (late calls)."
    )
    initial_lookback_hours: int = Field(
        default=24, ge=1, le=24 * 31, description="How far back the first poll of a workspace reads."
    )


class Integrations(_Section):
    callrail: CallRailIntegration = CallRailIntegration()


class Requeue(_Section):
    max_jobs_per_second: int = Field(
        default=50,
        ge=1,
        le=10_000,
        description="Jobs that requeue batches may requeue per second across all batches of the partner. Set at "
        "platform or partner level only, by operators.",
    )


class EffectiveConfig(_Section):
    """The configuration a workspace runs with once every level has been merged."""

    processing: Processing = Processing()
    integrations: Integrations = Integrations()
    requeue: Requeue = Requeue()


PLATFORM_DEFAULTS: dict[str, object] = EffectiveConfig().model_dump(mode="json")
