"""What every stage function shares: its logger and the stages wired to AWS from the function's settings."""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools import Logger

from shared.adapters.eventbridge import EventBridgePublisher
from shared.adapters.s3 import S3ArtifactStore
from shared.adapters.transcribe import AwsTranscribe
from shared.aws import client
from shared.config.hierarchy import ConfigStore
from shared.jobs.repository import JobRepository
from shared.pipeline.analysis import BedrockAnalyzer
from shared.pipeline.publishing import WebhookDelivery
from shared.pipeline.stages import PipelineStages, StageServices
from shared.settings import StageSettings

logger = Logger()


@cache
def stages() -> PipelineStages:
    settings = StageSettings.from_environ()
    config = ConfigStore(settings.config_prefix, client("ssm"), max_age_seconds=settings.config_cache_seconds)
    # Imported here: only functions that publish need the SecureString provider.
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    secrets = SSMProvider(boto3_client=client("ssm"))

    def secret(name: str) -> bytes:
        return str(secrets.get(name, decrypt=True, max_age=300)).encode()

    return PipelineStages(
        StageServices(
            jobs=JobRepository(settings.table_name, client("dynamodb")),
            config=config,
            artifacts=S3ArtifactStore(settings.artifacts_bucket, client("s3")),
            events=EventBridgePublisher(settings.event_bus_name, client("events")),
            transcribe=lambda: AwsTranscribe(settings.artifacts_bucket, client("transcribe"), client("s3")),
            bedrock=lambda model_id: BedrockAnalyzer(model_id, client("bedrock-runtime")),
            webhooks=WebhookDelivery(),
            secret=secret,
        )
    )
