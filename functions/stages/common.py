"""What every stage function shares: its logger and the stages wired to AWS from the function's settings."""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools import Logger

from shared.aws import client
from shared.config.hierarchy import ConfigStore
from shared.jobs.repository import JobRepository
from shared.pipeline.analysis import BedrockAnalyzer
from shared.pipeline.artifacts import ArtifactStore
from shared.pipeline.publishing import EventPublisher, WebhookDelivery
from shared.pipeline.stages import PipelineStages, StageServices
from shared.pipeline.transcripts import AwsTranscribe
from shared.settings import StageSettings

logger = Logger()


@cache
def stages() -> PipelineStages:
    settings = StageSettings.from_environ()
    config = ConfigStore(settings.config_prefix, max_age_seconds=settings.config_cache_seconds)
    # Imported here: only functions that publish need the SecureString provider.
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    secrets = SSMProvider(boto3_client=client("ssm"))

    def secret(name: str) -> bytes:
        return str(secrets.get(name, decrypt=True, max_age=300)).encode()

    return PipelineStages(
        StageServices(
            jobs=JobRepository(settings.table_name),
            config=config,
            artifacts=ArtifactStore(settings.artifacts_bucket),
            events=EventPublisher(settings.event_bus_name),
            transcribe=lambda: AwsTranscribe(settings.artifacts_bucket),
            bedrock=BedrockAnalyzer,
            webhooks=WebhookDelivery(),
            secret=secret,
        )
    )
