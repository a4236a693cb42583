"""Demo data for the local runtime, written through the product's own repositories.

Two partners with two organizations of two workspaces each, one API key per tenant, and 24 jobs per workspace in
every status, with each of the spec's skip reasons; ``source: "demo"`` and ``demo data`` in their history tell
them from the CallRail poller's. One organization and one workspace override
``processing.filters.min_duration_seconds``. With the CallRail sample server, every workspace polls its own
SAMPLE account. Every job carries ``source_metadata.transcription`` and a ``recording_url``; with a webhook
receiver, the platform config sends every published result there, signed (secret in a SecureString parameter).
"""

from __future__ import annotations

import hashlib
import random
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared import aws
from shared.access import ScopeKind
from shared.auth.keys import ApiKeyRepository
from shared.clock import format_timestamp
from shared.config.hierarchy import ConfigLevel, ConfigStore
from shared.config.model import PLATFORM_DEFAULTS
from shared.jobs.ids import new_job_id
from shared.jobs.models import Job, JobEvent, JobFailure, JobStatus, SkipReason
from shared.jobs.repository import JobRepository
from shared.tenants.registry import TenantRegistry, Workspace

if TYPE_CHECKING:
    from infra.local.callrail_sample import CallRailSampleServer

JOBS_PER_WORKSPACE = 24
# The seeded jobs' ``source`` and the cause of their first history event: demo data, not the CallRail poller's.
DEMO_SOURCE = "demo"
DEMO_CAUSE = "demo data"
_PLATFORM_MIN_DURATION: int = PLATFORM_DEFAULTS["processing"]["filters"]["min_duration_seconds"]  # type: ignore[index]

# Per workspace: how many jobs of each status and, for skipped jobs, of each skip reason.
_STATUS_MIX: tuple[tuple[JobStatus, int], ...] = (
    (JobStatus.COMPLETED, 5),
    *((status, 2) for status in (JobStatus.QUEUED, JobStatus.TRANSCRIBING, JobStatus.ANALYZING, JobStatus.PUBLISHING)),
    (JobStatus.FAILED, 2),
)
_SKIPPED_BELOW_MINIMUM = 5
_SKIPPED_ON_INGEST = 2
_SKIPPED_RATE_LIMIT = 2
_PIPELINE = (JobStatus.QUEUED, JobStatus.TRANSCRIBING, JobStatus.ANALYZING, JobStatus.PUBLISHING, JobStatus.COMPLETED)
_FAILURES = (
    JobFailure(stage="transcribe", error="TranscriptionFailed", message="The recording could not be transcribed."),
    JobFailure(
        stage="fetch_recording", error="RecordingUnavailable", message="CallRail returned 404 for the recording."
    ),
)
_FINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.SKIPPED})
_AGE_HOURS = {True: (2.0, 120.0), False: (0.02, 2.0)}
_PARTNERS = ("Northwind Marketing", "Bluebird Agency")
_ORGANIZATIONS = (("Acme Dental", "Summit Roofing"), ("Harbor Law", "Maple Veterinary"))
_WORKSPACES = ("Main Office", "Second Location")
WEBHOOK_SECRET_NAME = "demo"  # noqa: S105 - a parameter name below the stage's webhook secrets, not a secret
RECORDINGS_BASE_URL = "http://127.0.0.1:9/recordings"  # loopback, never fetched by the `source` provider
_AGENT_LINES = (
    "Thanks for calling {company}, this is {agent}. How can I help you today?",
    "Good afternoon, {company}, {agent} speaking.",
    "Thank you for holding. What can I do for you?",
)
_CALLER_LINES = (
    "Hi, I'd like to book an appointment for next week if you have anything open.",
    "Hello, I got a quote from you last month and wanted to ask a couple of questions about it.",
    "Hi, I'm calling because the work you did on Tuesday isn't quite right and I'm a bit frustrated.",
    "Hey, do you have any availability this Saturday morning?",
)
_AGENT_REPLIES = (
    "Absolutely, I can help with that. Can I get your name and a good number to reach you?",
    "I'm sorry to hear that. Let me pull up your account and we'll make it right.",
    "Sure, let me check the schedule. We have Thursday at ten or Friday at two.",
)
_CALLER_CLOSINGS = (
    "Thursday at ten works great, thank you so much.",
    "Okay, thanks for your help, I appreciate it.",
    "That sounds good. Thanks, bye.",
)
_AGENTS = ("Maria", "James", "Priya", "Tom")
# A SAMPLE account per demo workspace starts with these calls, within the first poll's 24-hour look-back.
SAMPLE_CALLS_PER_ACCOUNT = 10
SAMPLE_HISTORY = timedelta(hours=23)
SAMPLE_LOW_DAILY_LIMIT = 3
# The workspaces (partner, organization, workspace) showing ingestion settings; not the banner's example one.
SKIP_ALL_WORKSPACE = (0, 1, 0)  # Summit Roofing - Main Office: every call is created skipped
LOW_LIMIT_WORKSPACE = (1, 1, 0)  # Maple Veterinary - Main Office: three queued calls a day, then rate_limit
SETTING_DEFAULT = "default"
SETTING_SKIP_ALL = "skip_all_on_ingest"
SETTING_LOW_LIMIT = f"max_calls_per_workspace={SAMPLE_LOW_DAILY_LIMIT}"


@dataclass
class IssuedKey:
    key: str
    scope: str
    scope_id: str
    key_id: str
    name: str


@dataclass
class DemoTenant:
    kind: str
    id: str
    name: str
    parent_id: str | None
    min_duration_seconds: int | None = None  # the level's own override, if any


@dataclass
class SampleAccount:
    """A CallRail SAMPLE account of the local sample server, wired to one demo workspace."""

    account_id: str
    workspace_id: str
    workspace_name: str
    api_key_parameter: str  # the SecureString with the key, as integrations.callrail.api_key_parameter names it
    api_key: str  # the sample server's key for this account (loopback only, new on every start)
    setting: str  # SETTING_DEFAULT, SETTING_SKIP_ALL or SETTING_LOW_LIMIT
    initial_calls: int


@dataclass
class DemoData:
    """What was seeded: shown once at startup and written to ``.local/demo.json``."""

    api_keys: list[IssuedKey] = field(default_factory=list)
    tenants: list[DemoTenant] = field(default_factory=list)
    jobs_per_workspace: dict[str, int] = field(default_factory=dict)
    callrail_accounts: list[SampleAccount] = field(default_factory=list)

    def key_for(self, scope: str, scope_id: str | None = None) -> IssuedKey:
        return next(key for key in self.api_keys if key.scope == scope and scope_id in (None, key.scope_id))

    def callrail_account(self, setting: str) -> SampleAccount:
        return next(account for account in self.callrail_accounts if account.setting == setting)

    def as_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "api_keys": [asdict(key) for key in self.api_keys],
            "tenants": [asdict(tenant) for tenant in self.tenants],
        }
        if self.callrail_accounts:
            document["callrail_sample_accounts"] = [asdict(account) for account in self.callrail_accounts]
        return document


def seed_demo(
    table_name: str,
    config_prefix: str,
    seed: int = 7,
    now: datetime | None = None,
    *,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    callrail: CallRailSampleServer | None = None,
) -> DemoData:
    """Create the demo tenants, keys, config documents and jobs; the same ``seed`` gives the same shape.

    With ``webhook_url`` and ``webhook_secret``, the platform config delivers every published result there.
    With ``callrail`` (a sample server), every workspace polls its own SAMPLE account there (:func:`seed_callrail`).
    """
    rng = random.Random(seed)  # noqa: S311 - the shape of demo data, not a secret
    now = now or datetime.now(UTC)
    dynamodb = aws.client("dynamodb")
    registry = TenantRegistry(table_name, dynamodb)
    keys = ApiKeyRepository(table_name, dynamodb)
    jobs = JobRepository(table_name, dynamodb)
    config = ConfigStore(config_prefix, aws.client("ssm"))
    demo = DemoData()
    positions: dict[tuple[int, int, int], Workspace] = {}
    if webhook_url is not None and webhook_secret is not None:
        seed_webhooks(config, webhook_url, webhook_secret)

    def register(
        scope: ScopeKind, tenant_id: str, name: str, parent_id: str | None, minimum: int | None = None
    ) -> None:
        """Record a created tenant, give it its own minimum duration if it has one, and issue its demo key."""
        demo.tenants.append(DemoTenant(scope.value, tenant_id, name, parent_id, minimum))
        if minimum is not None:
            config.write_document(ConfigLevel(scope.value), tenant_id, _min_duration(minimum))
        key, record = keys.create(scope, tenant_id, f"demo {scope} key ({name})", tenant_exists=True)
        demo.api_keys.append(IssuedKey(key, scope.value, tenant_id, record.key_id, record.name))

    for p, partner_name in enumerate(_PARTNERS):
        partner = registry.create_partner(partner_name, partner_id=f"ptn_{rng.getrandbits(40):010x}")
        register(ScopeKind.PARTNER, partner.partner_id, partner.name, None)
        for o, organization_name in enumerate(_ORGANIZATIONS[p]):
            organization = registry.create_organization(
                partner.partner_id, organization_name, organization_id=f"org_{rng.getrandbits(40):010x}"
            )
            organization_minimum = 20 if (p, o) == (1, 0) else None
            register(
                ScopeKind.ORGANIZATION,
                organization.organization_id,
                organization.name,
                partner.partner_id,
                organization_minimum,
            )
            for w, workspace_suffix in enumerate(_WORKSPACES):
                workspace = registry.create_workspace(
                    organization.organization_id,
                    f"{organization_name} - {workspace_suffix}",
                    workspace_id=f"ws_{rng.getrandbits(40):010x}",
                )
                workspace_minimum = 45 if (p, o, w) == (0, 0, 1) else None
                register(
                    ScopeKind.WORKSPACE,
                    workspace.workspace_id,
                    workspace.name,
                    organization.organization_id,
                    workspace_minimum,
                )
                positions[(p, o, w)] = workspace
                minimum = workspace_minimum or organization_minimum or _PLATFORM_MIN_DURATION
                for job in demo_jobs(workspace, minimum, rng, now):
                    jobs.create(job)
                demo.jobs_per_workspace[workspace.workspace_id] = JOBS_PER_WORKSPACE
    if callrail is not None:
        demo.callrail_accounts = seed_callrail(config, positions, callrail, seed=seed)
    return demo


def seed_callrail(
    config: ConfigStore,
    workspaces: dict[tuple[int, int, int], Workspace],
    server: CallRailSampleServer,
    *,
    seed: int = 7,
    calls: int = SAMPLE_CALLS_PER_ACCOUNT,
) -> list[SampleAccount]:
    """One SAMPLE account per workspace on ``server``, its key a SecureString under the CallRail keys path
    (``/gensail/{stage}/secrets/callrail/``, the only secrets the poller may read), and the workspace's
    ``integrations.callrail`` pointing at it (merged into the workspace's own document).

    One workspace ingests everything as skipped (``skip_all_on_ingest``), one may queue only
    ``SAMPLE_LOW_DAILY_LIMIT`` calls a day; the others keep the defaults.
    """
    accounts = []
    for position, workspace in workspaces.items():
        digest = hashlib.sha256(f"{workspace.workspace_id}:{seed}".encode()).hexdigest()
        account_id = f"ACC{digest[:32]}"
        api_key = secrets.token_hex(16)
        parameter = f"{config.paths.callrail_keys}/{account_id}"
        _put_secret(parameter, api_key, "API key of a CallRail SAMPLE account of the local sample server")
        server.add_account(account_id, api_key, calls=calls, span=SAMPLE_HISTORY, transcriptions=True, seed=seed)
        integration: dict[str, Any] = {"enabled": True, "account_id": account_id, "api_key_parameter": parameter}
        setting = SETTING_DEFAULT
        if position == SKIP_ALL_WORKSPACE:
            integration["skip_all_on_ingest"] = True
            setting = SETTING_SKIP_ALL
        elif position == LOW_LIMIT_WORKSPACE:
            integration["max_calls_per_workspace"] = SAMPLE_LOW_DAILY_LIMIT
            setting = SETTING_LOW_LIMIT
        document = config.read_document(ConfigLevel.WORKSPACE, workspace.workspace_id)
        document.setdefault("integrations", {})["callrail"] = integration
        config.write_document(ConfigLevel.WORKSPACE, workspace.workspace_id, document)
        accounts.append(
            SampleAccount(
                account_id=account_id,
                workspace_id=workspace.workspace_id,
                workspace_name=workspace.name,
                api_key_parameter=parameter,
                api_key=api_key,
                setting=setting,
                initial_calls=calls,
            )
        )
    return accounts


def _put_secret(name: str, value: str, description: str) -> None:
    """A SecureString parameter, stored as operators store secrets."""
    aws.client("ssm").put_parameter(
        Name=name, Value=value, Type="SecureString", Overwrite=True, Description=description
    )


def seed_webhooks(config: ConfigStore, url: str, secret: str) -> None:
    """The signing secret as a SecureString, and the platform config that sends results to ``url``."""
    parameter = f"{config.paths.webhook_secrets}/{WEBHOOK_SECRET_NAME}"
    _put_secret(parameter, secret, "Signing secret of the local runtime's demo webhook receiver")
    document = config.read_document(ConfigLevel.PLATFORM)
    webhooks = document.setdefault("processing", {}).setdefault("webhooks", {})
    webhooks.update({"urls": [url], "secret_parameter": parameter})
    config.write_document(ConfigLevel.PLATFORM, None, document)


def demo_transcription(rng: random.Random, company: str) -> str:
    """A CallRail-style transcription: one line per turn, each with its speaker's label."""
    agent = rng.choice(_AGENTS)
    turns = [
        ("Agent", rng.choice(_AGENT_LINES).format(company=company, agent=agent)),
        ("Caller", rng.choice(_CALLER_LINES)),
        ("Agent", rng.choice(_AGENT_REPLIES)),
        ("Caller", rng.choice(_CALLER_CLOSINGS)),
    ]
    return "\n".join(f"{speaker}: {text}" for speaker, text in turns)


def _min_duration(seconds: int) -> dict[str, Any]:
    return {"processing": {"filters": {"min_duration_seconds": seconds}}}


def demo_jobs(workspace: Workspace, minimum: int, rng: random.Random, now: datetime) -> list[Job]:
    """One workspace's jobs: every status, every skip reason, durations spread around the minimum."""
    plan: list[tuple[JobStatus, str | None]] = [(status, None) for status, count in _STATUS_MIX for _ in range(count)]
    plan += [(JobStatus.SKIPPED, "below")] * _SKIPPED_BELOW_MINIMUM
    plan += [(JobStatus.SKIPPED, SkipReason.SKIP_ALL_ON_INGEST)] * _SKIPPED_ON_INGEST
    plan += [(JobStatus.SKIPPED, SkipReason.RATE_LIMIT)] * _SKIPPED_RATE_LIMIT
    rng.shuffle(plan)
    # Finished jobs spread over the last five days; jobs still in the pipeline arrived in the last two hours.
    return [
        _job(
            workspace,
            status=status,
            reason=reason,
            minimum=minimum,
            rng=rng,
            created=now - timedelta(hours=rng.uniform(*_AGE_HOURS[status in _FINAL])),
        )
        for status, reason in plan
    ]


def _duration(status: JobStatus, reason: str | None, minimum: int, rng: random.Random) -> int:
    if reason == "below":
        return rng.randint(5, minimum - 1)
    if status is JobStatus.SKIPPED:
        return rng.randint(5, 90)  # skipped at ingest: any length
    return rng.randint(minimum, 90)


def _job(
    workspace: Workspace, *, status: JobStatus, reason: str | None, minimum: int, rng: random.Random, created: datetime
) -> Job:
    duration = _duration(status, reason, minimum, rng)
    skipped_reason = SkipReason.duration_below_minimum(duration, minimum) if reason == "below" else reason
    call_id = f"CAL{rng.getrandbits(128):032x}"
    history = _history(status, skipped_reason, created, rng)
    updated = history[-1].at
    return Job(
        job_id=new_job_id(created),
        **workspace.path.model_dump(),
        status=status,
        skipped_reason=skipped_reason,
        skipped_at=updated if status is JobStatus.SKIPPED else None,
        created_at=format_timestamp(created),
        updated_at=updated,
        source=DEMO_SOURCE,
        source_id=call_id,
        duration_seconds=duration,
        source_metadata={
            "direction": rng.choice(("inbound", "inbound", "inbound", "outbound")),
            "answered": True,
            "start_time": format_timestamp(created - timedelta(seconds=duration + rng.randint(30, 600))),
            "customer_phone_number": f"+1{rng.randint(201, 989)}555{rng.randint(0, 9999):04d}",
            "tracking_phone_number": f"+1{rng.randint(201, 989)}555{rng.randint(0, 9999):04d}",
            "recording_url": f"{RECORDINGS_BASE_URL}/{call_id}.mp3",
            "transcription": demo_transcription(rng, workspace.name.split(" - ")[0]),
        },
        history=history,
        failure=rng.choice(_FAILURES) if status is JobStatus.FAILED else None,
        result={"transcript_words": duration * 2 + rng.randint(0, 40), "sentiment": rng.choice(("positive", "neutral"))}
        if status is JobStatus.COMPLETED
        else None,
    )


def _history(status: JobStatus, skipped_reason: str | None, created: datetime, rng: random.Random) -> list[JobEvent]:
    moment = created

    def event(reached: JobStatus, cause: str) -> JobEvent:
        nonlocal moment
        moment += timedelta(seconds=rng.randint(2, 90))
        return JobEvent(status=reached, at=format_timestamp(moment), cause=cause)

    if skipped_reason in (SkipReason.SKIP_ALL_ON_INGEST, SkipReason.RATE_LIMIT):
        # Skipped as the poller skips a call (the spec's reasons), but seeded: the cause says so.
        return [
            JobEvent(status=JobStatus.SKIPPED, at=format_timestamp(created), cause=f"{DEMO_CAUSE}: {skipped_reason}")
        ]
    events = [JobEvent(status=JobStatus.QUEUED, at=format_timestamp(created), cause=DEMO_CAUSE)]
    if status is JobStatus.SKIPPED:
        return [*events, event(JobStatus.SKIPPED, f"processing filters: {skipped_reason}")]
    last = _PIPELINE.index(status) if status in _PIPELINE else rng.randint(1, 3)
    events += [event(stage, "pipeline") for stage in _PIPELINE[1 : last + 1]]
    if status is JobStatus.FAILED:
        events.append(event(JobStatus.FAILED, "stage failed"))
    return events
