"""The artifacts bucket in S3, with S3's errors mapped to retryable or permanent stage errors."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from shared.pipeline.errors import PermanentStageError, TransientStageError

# S3 answers these when it is busy or briefly broken; a later attempt usually succeeds.
_TRANSIENT_S3_CODES = frozenset(
    {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "RequestTimeTooSkewed", "503", "500"}
)
_MISSING_S3_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


def s3_error(error: ClientError | BotoCoreError, action: str) -> TransientStageError | PermanentStageError:
    """The stage error for an S3 failure: throttling and 5xx are worth a retry, anything else is not."""
    if isinstance(error, BotoCoreError):
        # Connection and read timeouts that outlived botocore's own retries.
        return TransientStageError(f"S3 {action} failed: {error}")
    code = str(error.response.get("Error", {}).get("Code", ""))
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code in _TRANSIENT_S3_CODES or status >= 500:
        return TransientStageError(f"S3 {action} failed ({code}); retry later")
    return PermanentStageError(f"S3 {action} failed ({code}): {error}")


class S3ArtifactStore:
    """Reads and writes a job's artifacts in the artifacts bucket, encrypted at rest."""

    def __init__(self, bucket: str, s3: Any, *, server_side_encryption: str = "AES256") -> None:
        self.bucket = bucket
        self._s3 = s3
        # Requested on every write so an object is encrypted even if the bucket default changes.
        self._sse = server_side_encryption

    def put_json(self, key: str, document: BaseModel | dict[str, Any]) -> str:
        """Store ``document`` as JSON under ``key`` and return the key."""
        if isinstance(document, BaseModel):
            body = document.model_dump_json().encode()
        else:
            body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
        return self.put_bytes(key, body, "application/json")

    def get_json(self, key: str) -> dict[str, Any]:
        """The JSON object stored under ``key``; a missing or malformed object is a permanent error."""
        try:
            response = self._s3.get_object(Bucket=self.bucket, Key=key)
            body = response["Body"].read()
        except (ClientError, BotoCoreError) as error:
            if isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") in _MISSING_S3_CODES:
                raise PermanentStageError(f"Artifact s3://{self.bucket}/{key} does not exist") from error
            raise s3_error(error, f"GetObject {key}") from error
        try:
            document = json.loads(body)
        except ValueError as error:
            raise PermanentStageError(f"Artifact s3://{self.bucket}/{key} is not valid JSON") from error
        if not isinstance(document, dict):
            raise PermanentStageError(f"Artifact s3://{self.bucket}/{key} is not a JSON object")
        return document

    def put_bytes(self, key: str, data: bytes, content_type: str) -> str:
        """Store raw bytes under ``key`` (server-side encrypted) and return the key."""
        try:
            self._s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                ServerSideEncryption=self._sse,
            )
        except (ClientError, BotoCoreError) as error:
            raise s3_error(error, f"PutObject {key}") from error
        return key

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        try:
            self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _MISSING_S3_CODES:
                return False
            raise s3_error(error, f"HeadObject {key}") from error
        except BotoCoreError as error:
            raise s3_error(error, f"HeadObject {key}") from error
        return True
