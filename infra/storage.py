"""The artifacts bucket (recordings, transcripts, analyses, results) and the bucket its access logs go to.

Call content expires: recordings and every object that holds a transcript (the transcript, Transcribe's raw
output, the published result that embeds it) are deleted after ``-c artifact_retention_days=N`` days (365).
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.nag import acknowledge_wildcard, arn_of
from infra.stage import Stage

_PER_JOB_OBJECTS = (
    "Artifacts are one object per job, under a key built by shared.pipeline.artifacts (or Transcribe's output "
    "key); job ids are only known at run time, so the grant is this stage's key pattern in this one bucket."
)
RETENTION_CONTEXT_KEY = "artifact_retention_days"
DEFAULT_RETENTION_DAYS = 365
ACCESS_LOG_RETENTION = cdk.Duration.days(90)
ACCESS_LOG_PREFIX = "artifacts/"
MINIMUM_TLS_VERSION = 1.2


def _private_bucket(
    scope: Construct,
    construct_id: str,
    *,
    lifecycle_rules: Sequence[s3.LifecycleRule],
    access_logs: s3.IBucket | None = None,
) -> s3.Bucket:
    """SSE-S3, TLS 1.2+ only, no public access, no ACLs (the bucket owner owns every object), not versioned.

    A production stage keeps the bucket when the stack is deleted; any other stage empties and deletes it.
    """
    stage = Stage.of(scope)
    return s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        minimum_tls_version=MINIMUM_TLS_VERSION,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned=False,
        lifecycle_rules=list(lifecycle_rules),
        removal_policy=stage.removal_policy,
        auto_delete_objects=not stage.production,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=ACCESS_LOG_PREFIX if access_logs else None,
    )


class Artifacts(Construct):
    """The pipeline's artifacts bucket and its server access log bucket.

    SSE-S3 rather than KMS: Amazon Transcribe writes its output into this bucket with the caller's rights, and
    SSE-S3 needs no key grant for it. Not versioned: every object is derived from the job's recording and
    rewritten under the same key by an idempotent stage retry, so old versions would hold nothing of value.
    """

    def __init__(self, scope: Construct, construct_id: str, *, expiring: Sequence[str]) -> None:
        """``expiring``: key patterns (``recordings/*``) of the objects that expire after the retention period."""
        super().__init__(scope, construct_id)
        self.retention = retention_period(self)
        # Access log buckets must use SSE-S3 (log delivery cannot use KMS); they log to nowhere themselves.
        self.access_logs = _private_bucket(
            self,
            "AccessLogs",
            lifecycle_rules=[s3.LifecycleRule(id="ExpireAccessLogs", expiration=ACCESS_LOG_RETENTION)],
        )
        self.expiring_prefixes = sorted({pattern.split("*", 1)[0] for pattern in expiring})
        expiry = [
            s3.LifecycleRule(id=f"Expire-{prefix.strip('/')}", prefix=prefix, expiration=self.retention)
            for prefix in self.expiring_prefixes
        ]
        self.bucket = _private_bucket(
            self,
            "Bucket",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="AbortIncompleteUploads", abort_incomplete_multipart_upload_after=cdk.Duration.days(1)
                ),
                *expiry,
            ],
            access_logs=self.access_logs,
        )

    def grant_objects(self, grantee: iam.IGrantable, *, read: Sequence[str] = (), write: Sequence[str] = ()) -> None:
        """Allow GetObject on the ``read`` key patterns and PutObject on the ``write`` ones (e.g. ``results/*``).

        A reader may also list the bucket, so a missing object answers 404 (not 403) and a stage can tell
        "not there yet" from "not allowed".
        """
        if read:
            iam.Grant.add_to_principal(
                grantee=grantee,
                actions=["s3:GetObject"],
                resource_arns=[self.bucket.arn_for_objects(pattern) for pattern in read],
            )
            iam.Grant.add_to_principal(
                grantee=grantee, actions=["s3:ListBucket"], resource_arns=[self.bucket.bucket_arn]
            )
        if write:
            iam.Grant.add_to_principal(
                grantee=grantee,
                actions=["s3:PutObject"],
                resource_arns=[self.bucket.arn_for_objects(pattern) for pattern in write],
            )
        for pattern in sorted({*read, *write}):
            acknowledge_wildcard(grantee, f"{arn_of(self.bucket)}/{pattern}", _PER_JOB_OBJECTS)


def retention_period(scope: Construct) -> cdk.Duration:
    """How long recordings and transcripts are kept (``-c artifact_retention_days=N``, default 365, at least 1)."""
    value = scope.node.try_get_context(RETENTION_CONTEXT_KEY)
    days = DEFAULT_RETENTION_DAYS if value is None else int(value)
    if days < 1:
        raise ValueError(f"Context {RETENTION_CONTEXT_KEY} must be a whole number of days >= 1, got {value!r}")
    return cdk.Duration.days(days)
