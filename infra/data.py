"""The single DynamoDB table, built from ``shared.schema`` (the one definition of its keys and indexes)."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.stage import Stage
from shared import schema

# Epoch seconds after which DynamoDB deletes the item (the ingestion day counters; docs/ingestion.md).
TTL_ATTRIBUTE = schema.TTL_ATTRIBUTE


def _string(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)


def _index(definition: schema.IndexDefinition) -> dynamodb.GlobalSecondaryIndexPropsV2:
    return dynamodb.GlobalSecondaryIndexPropsV2(
        index_name=definition.name,
        partition_keys=[_string(name) for name in definition.partition_keys],
        sort_keys=[_string(name) for name in definition.sort_keys],
        projection_type=dynamodb.ProjectionType.ALL,
    )


BATCH_GET_ITEM = "dynamodb:BatchGetItem"
BATCH_WRITE_ITEM = "dynamodb:BatchWriteItem"
CONDITION_CHECK_ITEM = "dynamodb:ConditionCheckItem"
DELETE_ITEM = "dynamodb:DeleteItem"
GET_ITEM = "dynamodb:GetItem"
PUT_ITEM = "dynamodb:PutItem"
QUERY = "dynamodb:Query"
UPDATE_ITEM = "dynamodb:UpdateItem"


class Data(Construct):
    """The jobs/tenants/keys table: on demand, point-in-time recovery, a change stream for the worker.

    Items carrying ``expires_at`` (epoch seconds) expire: the ingestion day counters. TTL deletions reach the
    stream as ``REMOVE`` records, which the worker's filters never deliver. A production stage's table has
    deletion protection and outlives its stack; any other stage's table is deleted with the stack.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        stage = Stage.of(self)
        self.table = dynamodb.TableV2(
            self,
            "Table",
            partition_key=_string(schema.PARTITION_KEY),
            sort_key=_string(schema.SORT_KEY),
            billing=dynamodb.Billing.on_demand(),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            dynamo_stream=dynamodb.StreamViewType[schema.STREAM_VIEW],
            global_secondary_indexes=[_index(definition) for definition in schema.GLOBAL_INDEXES],
            time_to_live_attribute=TTL_ATTRIBUTE,
            deletion_protection=stage.production,
            removal_policy=stage.removal_policy,
        )

    def index_arns(self, indexes: Sequence[schema.IndexDefinition] = schema.GLOBAL_INDEXES) -> list[str]:
        """One ARN per index (every index by default), named: a grant on them carries no wildcard."""
        return [f"{self.table.table_arn}/index/{definition.name}" for definition in indexes]

    def grant(
        self,
        grantee: iam.IGrantable,
        *,
        item_actions: Sequence[str] = (),
        index_actions: Sequence[str] = (),
        indexes: Sequence[schema.IndexDefinition] = schema.GLOBAL_INDEXES,
    ) -> None:
        """Allow exactly these actions: ``item_actions`` on the table, ``index_actions`` on ``indexes``.

        Explicit where ``grant_read_write_data`` would also allow Scan, PutItem, DeleteItem and batch writes.
        """
        if item_actions:
            iam.Grant.add_to_principal(
                grantee=grantee, actions=list(item_actions), resource_arns=[self.table.table_arn]
            )
        if index_actions:
            iam.Grant.add_to_principal(
                grantee=grantee, actions=list(index_actions), resource_arns=self.index_arns(indexes)
            )

    def grant_config_documents(self, grantee: iam.IGrantable, *, write: bool = True) -> None:
        """Read (and with ``write`` change) config documents: their heads and history items only (``CONFIG#...``).

        A change is a transaction of an ``UpdateItem`` (the head) and a ``PutItem`` (the history item); a read
        is a ``GetItem`` or a ``BatchGetItem`` of heads; the history is a ``Query``. Without ``write``: only
        ``BatchGetItem`` of heads (the worker's read-your-writes). The condition on the partition key keeps these
        away from jobs, tenants and API keys.
        """
        changes = [GET_ITEM, PUT_ITEM, UPDATE_ITEM, QUERY]
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[BATCH_GET_ITEM, *(changes if write else [])],
                resources=[self.table.table_arn],
                conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [schema.config_partition("*", "*")]}},
            )
        )

    def grant_requeue_batches(self, grantee: iam.IGrantable) -> None:
        """Create, read and cancel requeue batches: the batch partitions, workspace locks and idempotency records.

        Creating is transactions of lock puts, a batch write of member items, and a transaction of the batch item
        with a check of its abandoned marker; a stale lock is deleted (or taken over: put a marker, check, delete).
        The condition on the partition key keeps these away from jobs, tenants and API keys.
        """
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    BATCH_GET_ITEM,
                    BATCH_WRITE_ITEM,
                    CONDITION_CHECK_ITEM,
                    DELETE_ITEM,
                    GET_ITEM,
                    PUT_ITEM,
                    UPDATE_ITEM,
                ],
                resources=[self.table.table_arn],
                conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": schema.requeue_batch_partitions()}},
            )
        )
        # A batch's workspaces are read together (their ancestry decides who may create it).
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[BATCH_GET_ITEM],
                resources=[self.table.table_arn],
                conditions={
                    "ForAllValues:StringLike": {
                        "dynamodb:LeadingKeys": [schema.tenant_key(schema.Entity.WORKSPACE, "*")[schema.PARTITION_KEY]]
                    }
                },
            )
        )
