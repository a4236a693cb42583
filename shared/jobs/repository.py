"""DynamoDB access for jobs. Every status change is one conditional ``UpdateItem``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from shared import schema
from shared.access import Caller
from shared.dynamo import ConditionFailed, TableRepository, from_item, serialize, to_item
from shared.errors import AccessDenied, InvalidTransition, JobNotFound, JobNotSkipped, RunSuperseded
from shared.jobs.ids import new_job_id
from shared.jobs.models import Job, JobEvent, JobPage, JobStatus, can_transition

_INTERNAL_ATTRIBUTES = frozenset({schema.PARTITION_KEY, schema.SORT_KEY, "entity"})
_ID_COLLISION_RETRIES = 5
# ``source_metadata`` field naming the requeue batch that last requeued the job.
LAST_REQUEUED_BATCH = "last_requeued_batch"


@dataclass(frozen=True)
class BatchRequeue:
    """Who requeues on behalf of a batch: the batch, the workspace it is working through, and its creator's key."""

    batch_id: str
    workspace_id: str
    scope: str
    key_id: str


class BatchRequeueOutcome(StrEnum):
    REQUEUED = "requeued"
    NOT_SKIPPED_ANYMORE = "not_skipped_anymore"
    FAILED = "failed"


# A job keeps its latest status changes; older ones are dropped once it has more than this many.
HISTORY_LIMIT = 40


def job_from_item(item: dict[str, Any]) -> Job:
    plain = from_item(item)
    return Job.model_validate({k: v for k, v in plain.items() if k not in _INTERNAL_ATTRIBUTES})


def job_item(job: Job) -> dict[str, Any]:
    """The stored form of a job: its fields plus the table keys (indexes read the plain attributes)."""
    return to_item(
        {**schema.job_key(job.job_id), "entity": schema.Entity.JOB, **job.model_dump(mode="json", exclude_none=True)}
    )


class JobRepository(TableRepository):
    """Jobs in the single table."""

    def get(self, job_id: str) -> Job | None:
        response = self._db.get_item(TableName=self._table, Key=to_item(schema.job_key(job_id)), ConsistentRead=True)
        item = response.get("Item")
        return job_from_item(item) if item else None

    def find_by_source(self, source: str, source_id: str) -> Job | None:
        """The job created from a source's call (its dedupe item names the job), if any."""
        response = self._db.get_item(
            TableName=self._table, Key=to_item(schema.source_call_key(source, source_id)), ConsistentRead=True
        )
        dedupe = response.get("Item")
        return self.get(str(from_item(dedupe)["job_id"])) if dedupe else None

    def create(self, job: Job) -> Job:
        """Store a new job. A job id already taken is replaced by a fresh one, never overwritten."""
        for _ in range(_ID_COLLISION_RETRIES):
            try:
                self._db.put_item(
                    TableName=self._table,
                    Item=job_item(job),
                    ConditionExpression="attribute_not_exists(#pk)",
                    ExpressionAttributeNames={"#pk": schema.PARTITION_KEY},
                )
                return job
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                job = job.model_copy(update={"job_id": new_job_id()})
        raise RuntimeError("could not allocate a free job id")

    def requeue(self, job_id: str, caller: Caller, now: str) -> Job:
        """Move a skipped job back to ``queued`` in one conditional write and record the requeue metadata.

        The condition holds the caller's scope and the ``skipped`` status; when it fails, the old item
        returned by DynamoDB tells a missing job from a foreign one from one that is not skipped.
        """
        request = _requeue_request(
            caller.scope, caller.key_id, now, f"requeued by {caller.scope} key {caller.key_id}", caller.scope_attribute
        )
        request["ExpressionAttributeValues"][":scope_id"] = serialize(caller.scope_id)
        try:
            return self._update_job(job_id, **request)
        except ConditionFailed as refused:
            raise _requeue_refusal(job_id, caller, refused.old) from None

    def requeue_in_batch(self, job_id: str, requeue: BatchRequeue, now: str) -> BatchRequeueOutcome:
        """The same requeue as ``requeue``, on behalf of a requeue batch: the job must be skipped, in the batch's
        workspace ``requeue.workspace_id``, and not requeued by this batch before (``last_requeued_batch``), so a
        retried or resumed batch never requeues a job twice. Answers what happened instead of raising.
        """
        request = _requeue_request(
            requeue.scope,
            requeue.key_id,
            now,
            f"requeued by {requeue.scope} key {requeue.key_id} in batch {requeue.batch_id}",
            "workspace_id",
        )
        names, values = request["ExpressionAttributeNames"], request["ExpressionAttributeValues"]
        names.update({"#metadata": "source_metadata", "#batch": LAST_REQUEUED_BATCH})
        values.update({":scope_id": serialize(requeue.workspace_id), ":batch": serialize(requeue.batch_id)})
        request["ConditionExpression"] += " AND (attribute_not_exists(#metadata.#batch) OR #metadata.#batch <> :batch)"
        request["UpdateExpression"] = request["UpdateExpression"].replace(
            " REMOVE", ", #metadata.#batch = :batch REMOVE", 1
        )
        try:  # the job as written is not needed: a long history is trimmed by the job's next transition
            self._conditional_update(schema.job_key(job_id), returns="NONE", **request)
        except ConditionFailed as refused:
            return _batch_refusal(refused.old, requeue)
        return BatchRequeueOutcome.REQUEUED

    def transition(
        self,
        job_id: str,
        source: JobStatus,
        target: JobStatus,
        *,
        now: str,
        cause: str,
        set_fields: dict[str, Any] | None = None,
        remove_fields: tuple[str, ...] = (),
        requeue_count: int | None = None,
    ) -> Job:
        """Move a job from ``source`` to ``target`` in one conditional write, appending to its history.

        ``requeue_count``: the requeue this change belongs to (a pipeline run's, or a stream record's); the
        write then also requires the job's ``requeue_count`` to still be that, so a run or a record that a newer
        requeue has overtaken changes nothing.

        Raises ``InvalidTransition`` for a change the lifecycle does not allow, and when the job is no longer
        in ``source`` (another worker got there first); ``RunSuperseded`` (an ``InvalidTransition``) when the job
        has been requeued since; ``JobNotFound`` when there is no such job.
        """
        if not can_transition(source, target):
            raise InvalidTransition(f"A job cannot move from '{source}' to '{target}'.")
        event = JobEvent(status=target, at=now, cause=cause)
        names = {"#pk": schema.PARTITION_KEY, "#status": "status"}
        values = {
            ":source": serialize(source.value),
            ":target": serialize(target.value),
            ":now": serialize(now),
            ":empty": {"L": []},
            ":event": serialize([event.model_dump(mode="json")]),
        }
        assignments = [
            "#status = :target",
            "updated_at = :now",
            "history = list_append(if_not_exists(history, :empty), :event)",
        ]
        for index, (field, value) in enumerate((set_fields or {}).items()):
            names[f"#f{index}"] = field
            values[f":f{index}"] = serialize(value)
            assignments.append(f"#f{index} = :f{index}")
        expression = "SET " + ", ".join(assignments)
        if remove_fields:
            for index, field in enumerate(remove_fields):
                names[f"#r{index}"] = field
            expression += " REMOVE " + ", ".join(f"#r{index}" for index in range(len(remove_fields)))
        condition = "attribute_exists(#pk) AND #status = :source"
        if requeue_count is not None:
            condition += " AND " + _requeue_count_is(requeue_count, names, values)
        try:
            return self._update_job(
                job_id,
                ConditionExpression=condition,
                UpdateExpression=expression,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ConditionFailed as refused:
            if refused.old is None:
                raise JobNotFound(f"Job {job_id} not found.") from None
            current = int(refused.old.get("source_metadata", {}).get("requeue_count", 0))
            if requeue_count is not None and current != requeue_count:
                raise RunSuperseded(
                    f"Job {job_id} was requeued (requeue #{current}) after requeue #{requeue_count}; "
                    "the newer requeue owns it."
                ) from None
            raise InvalidTransition(
                f"Job {job_id} is '{refused.old.get('status')}', not '{source}': it cannot move to '{target}'."
            ) from None

    def _update_job(self, job_id: str, **request: Any) -> Job:
        """One conditional ``UpdateItem`` of a job, returning the job as written (``ConditionFailed`` when refused)."""
        return self._trimmed(job_from_item(self._conditional_update(schema.job_key(job_id), **request)))

    def _trimmed(self, job: Job) -> Job:
        """Drop the oldest history entries past ``HISTORY_LIMIT`` (only jobs requeued many times get here).

        The removal is conditional on the history's length, so an entry appended meanwhile is never lost;
        if the condition fails, the next transition trims instead.
        """
        excess = len(job.history) - HISTORY_LIMIT
        if excess <= 0:
            return job
        try:
            self._db.update_item(
                TableName=self._table,
                Key=to_item(schema.job_key(job.job_id)),
                UpdateExpression="REMOVE " + ", ".join(f"history[{index}]" for index in range(excess)),
                ConditionExpression="size(history) = :length",
                ExpressionAttributeValues={":length": serialize(len(job.history))},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return job
        return job.model_copy(update={"history": job.history[excess:]})

    def list_jobs(
        self,
        workspace_id: str,
        status: JobStatus | None,
        limit: int,
        start_key: dict[str, Any] | None = None,
    ) -> JobPage:
        """One page of a workspace's jobs, newest first: a single Query on an index."""
        if status is None:
            index, second_name, second_value = schema.BY_WORKSPACE, "entity", schema.Entity.JOB
        else:
            index, second_name, second_value = schema.BY_WORKSPACE_STATUS, "status", status.value
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index.name,
            "KeyConditionExpression": "workspace_id = :workspace AND #second = :second",
            "ExpressionAttributeNames": {"#second": second_name},
            "ExpressionAttributeValues": {":workspace": serialize(workspace_id), ":second": serialize(second_value)},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if start_key:
            request["ExclusiveStartKey"] = to_item(start_key)
        response = self._db.query(**request)
        last = response.get("LastEvaluatedKey")
        return JobPage(
            jobs=[job_from_item(item) for item in response.get("Items", [])],
            last_key=from_item(last) if last else None,
        )


def _requeue_request(scope: str, key_id: str, now: str, cause: str, scope_attribute: str) -> dict[str, Any]:
    """The requeue's one conditional write: skipped -> queued with the spec's metadata, for a caller whose
    ``scope_attribute`` must equal ``:scope_id`` (which the caller of this adds)."""
    event = JobEvent(status=JobStatus.QUEUED, at=now, cause=cause)
    return {
        "ConditionExpression": "attribute_exists(#pk) AND #status = :skipped AND #scope = :scope_id",
        "UpdateExpression": (
            "SET #status = :queued, updated_at = :now,"
            " source_metadata.requeue_count = if_not_exists(source_metadata.requeue_count, :zero) + :one,"
            " source_metadata.last_requeued_at = :now,"
            " source_metadata.last_requeued_by = :scope_kind,"
            " source_metadata.last_requeued_by_key = :key_id,"
            " source_metadata.previous_skipped_reason = if_not_exists(skipped_reason, :null),"
            " source_metadata.previous_skipped_at = if_not_exists(skipped_at, :null),"
            " history = list_append(if_not_exists(history, :empty), :event)"
            " REMOVE skipped_reason, skipped_at"
        ),
        "ExpressionAttributeNames": {"#pk": schema.PARTITION_KEY, "#status": "status", "#scope": scope_attribute},
        "ExpressionAttributeValues": {
            ":skipped": serialize(JobStatus.SKIPPED.value),
            ":queued": serialize(JobStatus.QUEUED.value),
            ":scope_kind": serialize(str(scope)),
            ":key_id": serialize(key_id),
            ":now": serialize(now),
            ":zero": serialize(0),
            ":one": serialize(1),
            ":null": {"NULL": True},
            ":empty": {"L": []},
            ":event": serialize([event.model_dump(mode="json")]),
        },
    }


def _batch_refusal(old: dict[str, Any] | None, requeue: BatchRequeue) -> BatchRequeueOutcome:
    """Why a batch's requeue was refused, from the job as it was: gone or in another workspace, requeued by this
    batch already (a retried page), or no longer skipped."""
    if old is None or old.get("workspace_id") != requeue.workspace_id:
        return BatchRequeueOutcome.FAILED
    if old.get("source_metadata", {}).get(LAST_REQUEUED_BATCH) == requeue.batch_id:
        return BatchRequeueOutcome.REQUEUED
    return BatchRequeueOutcome.NOT_SKIPPED_ANYMORE


def _requeue_count_is(requeue_count: int, names: dict[str, str], values: dict[str, Any]) -> str:
    """A condition that the job's ``source_metadata.requeue_count`` is ``requeue_count`` (absent counts as 0)."""
    names["#metadata"] = "source_metadata"
    names["#requeues"] = "requeue_count"
    values[":requeues"] = serialize(requeue_count)
    matches = "#metadata.#requeues = :requeues"
    if requeue_count == 0:
        return f"(attribute_not_exists(#metadata.#requeues) OR {matches})"
    return matches


def _requeue_refusal(job_id: str, caller: Caller, old: dict[str, Any] | None) -> Exception:
    if old is None:
        return JobNotFound(f"Job {job_id} not found.")
    if not caller.covers_item(old):
        return AccessDenied(f"Your API key has no access to the workspace of job {job_id}.")
    return JobNotSkipped(
        f"Job {job_id} is not in 'skipped' status (current status: '{old.get('status')}'); "
        "only skipped jobs can be requeued."
    )
