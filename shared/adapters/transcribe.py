"""Provider ``aws_transcribe``: the recording copied to the artifacts bucket and transcribed by Amazon Transcribe."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

import httpx
from botocore.exceptions import BotoCoreError, ClientError

from shared.adapters.s3 import S3ArtifactStore
from shared.jobs.models import Job
from shared.pipeline.artifacts import recording_key
from shared.pipeline.errors import PermanentStageError, TransientStageError
from shared.pipeline.transcripts import Transcript, transcript_from_transcribe_output
from shared.urls import describe_url

_TRANSIENT_TRANSCRIBE_CODES = frozenset({"ThrottlingException", "LimitExceededException", "InternalFailureException"})
_MEDIA_FORMATS = {
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/flac": "flac",
    "audio/x-flac": "flac",
    "audio/ogg": "ogg",
    "audio/webm": "webm",
    "audio/mp4": "mp4",
    "audio/x-m4a": "m4a",
    "audio/amr": "amr",
}
_DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
# Transcribe accepts files up to 2 GB; a phone call is far below. The cap keeps a bad URL from filling memory.
_MAX_RECORDING_BYTES = 512 * 1024 * 1024


def _transcribe_error(error: ClientError | BotoCoreError, action: str) -> TransientStageError | PermanentStageError:
    if isinstance(error, BotoCoreError):
        return TransientStageError(f"Transcribe {action} failed: {error}")
    code = str(error.response.get("Error", {}).get("Code", ""))
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    message = error.response.get("Error", {}).get("Message", "")
    if code in _TRANSIENT_TRANSCRIBE_CODES or status >= 500:
        return TransientStageError(f"Transcribe {action} failed ({code}); retry later")
    return PermanentStageError(f"Transcribe {action} failed ({code}): {message}")


def _mime(content_type: str) -> str:
    return content_type.partition(";")[0].strip().lower()


def _media_format(content_type: str, url: str) -> str | None:
    mime = _mime(content_type)
    if mime in _MEDIA_FORMATS:
        return _MEDIA_FORMATS[mime]
    extension = urlparse(url).path.rsplit(".", 1)[-1].lower()
    return extension if extension in set(_MEDIA_FORMATS.values()) else None


class AwsTranscribe:
    """Copies a call's recording to the artifacts bucket and transcribes it with Amazon Transcribe."""

    def __init__(
        self,
        bucket: str,
        transcribe: Any,
        s3: Any,
        http: httpx.Client | None = None,
        *,
        timeout: httpx.Timeout = _DEFAULT_TIMEOUT,
        max_recording_bytes: int = _MAX_RECORDING_BYTES,
    ) -> None:
        self.bucket = bucket
        self._transcribe = transcribe
        self._store = S3ArtifactStore(bucket, s3)
        self._http = http if http is not None else httpx.Client(timeout=timeout, follow_redirects=True)
        self._timeout = timeout
        self._max_bytes = max_recording_bytes

    @staticmethod
    def output_key(job_name: str) -> str:
        """Where Transcribe writes the output document of ``job_name`` in the artifacts bucket."""
        return f"transcribe/{job_name}.json"

    def start(
        self, job: Job, job_name: str, language_code: str, *, recording_headers: Mapping[str, str] | None = None
    ) -> None:
        """Copy the recording to ``recordings/{job_id}`` and start transcription job ``job_name``.

        ``recording_headers`` go only with the request for ``recording_url`` itself (CallRail's
        ``recording.json`` wants ``Authorization: Token token="..."``), never to the audio link it points to.
        Safe to repeat: a recording already copied is not fetched again and an existing job is success.
        """
        key = recording_key(job.job_id)
        media_format: str | None = None
        if not self._store.exists(key):
            url = job.source_metadata.get("recording_url")
            if not isinstance(url, str) or not url:
                raise PermanentStageError(f"Job {job.job_id} has no recording (source_metadata.recording_url)")
            audio, content_type, audio_url = self._download(url, recording_headers)
            media_format = _media_format(content_type, audio_url)
            self._store.put_bytes(key, audio, content_type or "application/octet-stream")
        request: dict[str, Any] = {
            "TranscriptionJobName": job_name,
            "LanguageCode": language_code,
            "Media": {"MediaFileUri": f"s3://{self.bucket}/{key}"},
            "OutputBucketName": self.bucket,
            "OutputKey": self.output_key(job_name),
            "Settings": {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2},
        }
        if media_format:
            request["MediaFormat"] = media_format
        try:
            self._transcribe.start_transcription_job(**request)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConflictException":
                return  # started by an earlier attempt of this stage
            raise _transcribe_error(error, "StartTranscriptionJob") from error
        except BotoCoreError as error:
            raise _transcribe_error(error, "StartTranscriptionJob") from error

    def check(self, job_name: str) -> Transcript | None:
        """The finished transcript, or ``None`` while Transcribe is still working on ``job_name``."""
        try:
            job = self._transcribe.get_transcription_job(TranscriptionJobName=job_name)["TranscriptionJob"]
        except (ClientError, BotoCoreError) as error:
            raise _transcribe_error(error, "GetTranscriptionJob") from error
        status = job.get("TranscriptionJobStatus")
        if status in ("QUEUED", "IN_PROGRESS"):
            return None
        if status == "FAILED":
            reason = job.get("FailureReason") or "no reason given"
            raise PermanentStageError(f"Transcription job {job_name} failed: {reason}")
        if status != "COMPLETED":
            raise PermanentStageError(f"Transcription job {job_name} is in unexpected status {status!r}")
        document = self._store.get_json(self.output_key(job_name))
        return transcript_from_transcribe_output(document, language_code=job.get("LanguageCode"))

    def _download(self, url: str, headers: Mapping[str, str] | None) -> tuple[bytes, str, str]:
        """The audio at ``url``; a JSON answer (``recording.json``) is followed once to the ``url`` it names."""
        body, content_type, _ = self._get(url, headers)
        if _mime(content_type) == "application/json" or urlparse(url).path.endswith(".json"):
            try:
                target = json.loads(body).get("url")
            except (ValueError, AttributeError) as error:
                raise PermanentStageError(f"Recording document {describe_url(url)} is not a JSON object") from error
            if not isinstance(target, str) or not target:
                raise PermanentStageError(f"Recording document {describe_url(url)} has no audio url")
            audio, audio_type, final_url = self._get(target, None)
            if _mime(audio_type) == "application/json":
                raise PermanentStageError(f"Recording link {describe_url(target)} answered JSON, not audio")
            return audio, audio_type, final_url
        return body, content_type, url

    def _get(self, url: str, headers: Mapping[str, str] | None) -> tuple[bytes, str, str]:
        """Body, content type and final URL (after redirects) of ``url``; HTTP failures mapped to stage errors."""
        if urlparse(url).scheme not in ("http", "https"):
            raise PermanentStageError(f"Recording URL {describe_url(url)} is not http(s)")
        try:
            with self._http.stream(
                "GET", url, headers=dict(headers or {}), timeout=self._timeout, follow_redirects=True
            ) as response:
                status = response.status_code
                if status in (408, 429) or status >= 500:
                    raise TransientStageError(f"Recording {describe_url(url)} answered {status}; retry later")
                if status >= 400:
                    raise PermanentStageError(f"Recording {describe_url(url)} answered {status}")
                if status >= 300:
                    raise PermanentStageError(
                        f"Recording {describe_url(url)} answered {status} without a usable redirect"
                    )
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > self._max_bytes:
                        raise PermanentStageError(
                            f"Recording {describe_url(url)} is larger than {self._max_bytes} bytes"
                        )
                    chunks.append(chunk)
                return b"".join(chunks), response.headers.get("content-type", ""), str(response.url)
        except httpx.TimeoutException as error:
            raise TransientStageError(f"Recording {describe_url(url)} timed out; retry later") from error
        except httpx.TransportError as error:
            raise TransientStageError(
                f"Recording {describe_url(url)} could not be fetched: {type(error).__name__}"
            ) from error
