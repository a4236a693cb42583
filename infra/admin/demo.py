"""``demo seed`` of the admin command: demo data written through the product's own services (:class:`Services`),
into a deployed dev stack or the local runtime alike: tenants, hashed keys, config changes with their history, and
jobs.

The tenants are :data:`_TENANTS`, one API key each; every workspace gets 24 jobs (:data:`_PLAN`: every status and
each of the spec's skip reasons), with ``source: "demo"`` and ``demo data`` in their history to tell them from the
CallRail poller's. The levels named in :data:`_MINIMUMS` override ``processing.filters.min_duration_seconds``.
Nothing here is local: the local runtime adds its own webhook receiver and CallRail SAMPLE accounts afterwards.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from infra.admin.common import UsageError
from infra.admin.services import Services
from shared import aws
from shared.access import ScopeKind
from shared.clock import format_timestamp
from shared.config.documents import Author
from shared.config.hierarchy import ConfigLevel
from shared.config.model import PLATFORM_DEFAULTS
from shared.jobs.ids import new_job_id
from shared.jobs.models import Job, JobEvent, JobFailure, JobStatus, SkipReason
from shared.tenants.registry import Workspace

DEMO_SOURCE = "demo"  # the seeded jobs' ``source``; their first history event's cause is DEMO_CAUSE
DEMO_CAUSE = "demo data"
_PLATFORM_MIN_DURATION: int = PLATFORM_DEFAULTS["processing"]["filters"]["min_duration_seconds"]  # type: ignore[index]
# Partner -> its organizations -> their workspaces ("<organization> - <location>").
_TENANTS = {
    "Northwind Marketing": ("Acme Dental", "Summit Roofing"),
    "Bluebird Agency": ("Harbor Law", "Maple Veterinary"),
}
_LOCATIONS = ("Main Office", "Second Location")
_MINIMUMS = {"Harbor Law": 20, "Acme Dental - Second Location": 45}  # levels with a minimum duration of their own
# Per workspace: (status, skip reason, how many); "below" is duration_below_minimum with the job's own numbers.
_PLAN: tuple[tuple[JobStatus, str | None, int], ...] = (
    (JobStatus.COMPLETED, None, 5),
    *((status, None, 2) for status in (JobStatus.QUEUED, JobStatus.TRANSCRIBING, JobStatus.ANALYZING)),
    (JobStatus.PUBLISHING, None, 2),
    (JobStatus.FAILED, None, 2),
    (JobStatus.SKIPPED, "below", 5),
    (JobStatus.SKIPPED, SkipReason.SKIP_ALL_ON_INGEST, 2),
    (JobStatus.SKIPPED, SkipReason.RATE_LIMIT, 2),
)
_PIPELINE = (JobStatus.QUEUED, JobStatus.TRANSCRIBING, JobStatus.ANALYZING, JobStatus.PUBLISHING, JobStatus.COMPLETED)
_FAILURES = (
    JobFailure(stage="transcribe", error="TranscriptionFailed", message="The recording could not be transcribed."),
    JobFailure(
        stage="fetch_recording", error="RecordingUnavailable", message="CallRail returned 404 for the recording."
    ),
)
_CONVERSATION = (
    "Agent: Thanks for calling {company}, this is {agent}. How can I help you today?\n"
    "Caller: Hi, I'd like to book an appointment for next week if you have anything open.\n"
    "Agent: Sure, let me check the schedule. We have Thursday at ten or Friday at two.\n"
    "Caller: Thursday at ten works great, thank you so much."
)
_AGENTS = ("Maria", "James", "Priya", "Tom")
RECORDINGS_BASE_URL = "https://recordings.demo.invalid"  # no such host (RFC 2606): the jobs carry their transcript


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
class DemoData:
    """What was seeded: the issued keys (shown only this once) and the tenants they belong to."""

    api_keys: list[IssuedKey] = field(default_factory=list)
    tenants: list[DemoTenant] = field(default_factory=list)

    def key_for(self, scope: str, scope_id: str | None = None) -> IssuedKey:
        return next(key for key in self.api_keys if key.scope == scope and scope_id in (None, key.scope_id))

    def as_json(self) -> dict[str, Any]:
        return {"api_keys": [asdict(key) for key in self.api_keys], "tenants": [asdict(t) for t in self.tenants]}


def add_demo_commands(demo: argparse.ArgumentParser) -> None:
    command = demo.add_subparsers(dest="command", required=True).add_parser(
        "seed", help="create demo tenants, keys, config and jobs of every status; prints the keys once, as JSON"
    )
    command.add_argument("--seed", type=int, default=7, help="the demo data's shape and tenant ids (default 7)")
    command.set_defaults(handler=seed_command)


def seed_command(args: argparse.Namespace, services: Services) -> int:
    if services.target.production:
        raise UsageError("demo seed writes demo tenants, keys and jobs: it refuses the production stage's stack.")
    print(json.dumps(seed_demo(services, args.seed).as_json(), indent=2))
    print("warning: the API keys are shown only this once and cannot be retrieved again.", file=sys.stderr)
    return 0


def seed_demo(services: Services, seed: int = 7) -> DemoData:
    """Create the demo tenants, keys, config and jobs. The same ``seed`` gives the same tenant ids (a second run
    with it is refused as the tenants exist); the keys are new on every run."""
    rng = random.Random(seed)  # noqa: S311 - the shape of demo data, not a secret
    now = datetime.now(UTC)
    demo = DemoData()

    def register(scope: ScopeKind, tenant_id: str, name: str, parent_id: str | None) -> int | None:
        """Record a created tenant, give it its own minimum duration if it has one, and issue its demo key."""
        minimum = _MINIMUMS.get(name)
        demo.tenants.append(DemoTenant(scope.value, tenant_id, name, parent_id, minimum))
        if minimum is not None:
            filters = {"min_duration_seconds": minimum}
            configure(services, ConfigLevel(scope.value), tenant_id, "processing.filters", filters)
        key, record = services.keys.create(scope, tenant_id, f"demo {scope} key ({name})", tenant_exists=True)
        demo.api_keys.append(IssuedKey(key, scope.value, tenant_id, record.key_id, record.name))
        return minimum

    for partner_name, organizations in _TENANTS.items():
        partner = services.tenants.create_partner(partner_name, partner_id=f"ptn_{rng.getrandbits(40):010x}")
        register(ScopeKind.PARTNER, partner.partner_id, partner.name, None)
        for organization_name in organizations:
            organization = services.tenants.create_organization(
                partner.partner_id, organization_name, organization_id=f"org_{rng.getrandbits(40):010x}"
            )
            organization_id = organization.organization_id
            inherited = register(ScopeKind.ORGANIZATION, organization_id, organization_name, partner.partner_id)
            for location in _LOCATIONS:
                workspace = services.tenants.create_workspace(
                    organization_id, f"{organization_name} - {location}", workspace_id=f"ws_{rng.getrandbits(40):010x}"
                )
                own = register(ScopeKind.WORKSPACE, workspace.workspace_id, workspace.name, organization_id)
                for job in demo_jobs(workspace, own or inherited or _PLATFORM_MIN_DURATION, rng, now):
                    services.jobs.create(job)
    return demo


def configure(services: Services, level: ConfigLevel, tenant_id: str | None, path: str, values: dict[str, Any]) -> None:
    """Merge ``values`` into ``path`` (``section.key``) of a level's config, as an operator does (validated,
    versioned)."""
    section, key = path.split(".")

    def edit(document: dict[str, Any]) -> dict[str, Any]:
        inner = document.get(section, {})
        return {**document, section: {**inner, key: {**inner.get(key, {}), **values}}}

    services.config_service.change(level, tenant_id, edit, Author.operator(), customer=False)


def put_secret(name: str, value: str) -> None:
    """A SecureString parameter, stored as operators store secrets."""
    aws.client("ssm").put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)


def demo_jobs(workspace: Workspace, minimum: int, rng: random.Random, now: datetime) -> list[Job]:
    """One workspace's jobs: every status, every skip reason, durations spread around the minimum."""
    plan = [(status, reason) for status, reason, count in _PLAN for _ in range(count)]
    rng.shuffle(plan)
    return [_job(workspace, status, reason, minimum=minimum, rng=rng, now=now) for status, reason in plan]


def _job(
    workspace: Workspace, status: JobStatus, reason: str | None, *, minimum: int, rng: random.Random, now: datetime
) -> Job:
    # Finished jobs spread over the last five days; jobs still in the pipeline arrived in the last two hours.
    finished = status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.SKIPPED)
    created = now - timedelta(hours=rng.uniform(2.0, 120.0) if finished else rng.uniform(0.02, 2.0))
    if reason == "below":
        duration = rng.randint(5, minimum - 1)
        reason = SkipReason.duration_below_minimum(duration, minimum)
    else:
        duration = rng.randint(5, 90) if status is JobStatus.SKIPPED else rng.randint(minimum, 90)
    call_id = f"CAL{rng.getrandbits(128):032x}"
    history = _history(status, reason, created, rng)
    return Job(
        job_id=new_job_id(created),
        **workspace.path.model_dump(),
        status=status,
        skipped_reason=reason,
        skipped_at=history[-1].at if status is JobStatus.SKIPPED else None,
        created_at=format_timestamp(created),
        updated_at=history[-1].at,
        source=DEMO_SOURCE,
        source_id=call_id,
        duration_seconds=duration,
        source_metadata={
            "direction": rng.choice(("inbound", "inbound", "inbound", "outbound")),
            "answered": True,
            "start_time": format_timestamp(created - timedelta(seconds=duration + rng.randint(30, 600))),
            "customer_phone_number": _phone(rng),
            "tracking_phone_number": _phone(rng),
            "recording_url": f"{RECORDINGS_BASE_URL}/{call_id}.mp3",
            "transcription": _CONVERSATION.format(company=workspace.name.split(" - ")[0], agent=rng.choice(_AGENTS)),
        },
        history=history,
        failure=rng.choice(_FAILURES) if status is JobStatus.FAILED else None,
        result={"transcript_words": duration * 2 + rng.randint(0, 40), "sentiment": rng.choice(("positive", "neutral"))}
        if status is JobStatus.COMPLETED
        else None,
    )


def _phone(rng: random.Random) -> str:
    return f"+1{rng.randint(201, 989)}555{rng.randint(0, 9999):04d}"


def _history(status: JobStatus, skipped_reason: str | None, created: datetime, rng: random.Random) -> list[JobEvent]:
    if skipped_reason in (SkipReason.SKIP_ALL_ON_INGEST, SkipReason.RATE_LIMIT):
        # Skipped as the poller skips a call (the spec's reasons), but seeded: the cause says so.
        return [JobEvent(status=status, at=format_timestamp(created), cause=f"{DEMO_CAUSE}: {skipped_reason}")]
    reached = [(JobStatus.QUEUED, DEMO_CAUSE)]
    if status is JobStatus.SKIPPED:
        reached.append((JobStatus.SKIPPED, f"processing filters: {skipped_reason}"))
    else:
        last = _PIPELINE.index(status) if status in _PIPELINE else rng.randint(1, 3)
        reached += [(stage, "pipeline") for stage in _PIPELINE[1 : last + 1]]
        if status is JobStatus.FAILED:
            reached.append((JobStatus.FAILED, "stage failed"))
    moment, events = created, []
    for index, (event_status, cause) in enumerate(reached):
        moment += timedelta(seconds=rng.randint(2, 90) if index else 0)
        events.append(JobEvent(status=event_status, at=format_timestamp(moment), cause=cause))
    return events
