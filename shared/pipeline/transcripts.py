"""Transcription providers: the transcript that came with the call (``source``) and Amazon Transcribe."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal
from urllib.parse import urlparse

import httpx
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, Field, ValidationError

from shared import aws
from shared.jobs.models import Job
from shared.pipeline.artifacts import ArtifactStore, recording_key
from shared.pipeline.errors import PermanentStageError, TransientStageError


class Segment(BaseModel):
    """One speaker turn: who spoke, when (seconds from the start of the call) and what."""

    speaker: str
    start: float = Field(ge=0)
    end: float = Field(ge=0)
    text: str


class Transcript(BaseModel):
    """A call's words, whole and split into speaker turns."""

    text: str
    segments: list[Segment]
    language_code: str | None = None
    source: Literal["source", "aws_transcribe"]


# ---------------------------------------------------------------------------------------------------------------
# Provider ``source``: the transcript CallRail (or the demo data) stored on the job.
# ---------------------------------------------------------------------------------------------------------------

# Speaker labels that mean the business side or the customer side of a call, normalized to two names.
_AGENT_LABELS = frozenset(
    {"agent", "representative", "rep", "employee", "business", "staff", "operator", "receptionist"}
)
_CALLER_LABELS = frozenset({"caller", "customer", "client", "contact", "lead", "prospect"})
_LABEL = "|".join(sorted(_AGENT_LABELS | _CALLER_LABELS)) + r"|speaker[ _]?\d+|spk_\d+"
_STAMP = r"\[?(?P<stamp>\d{1,2}:\d{2}(?::\d{2})?)\]?"
# A label starts a turn at the start of a line or right after a sentence ends ("... thanks. Caller: hi").
_TURN = re.compile(
    rf"(?:^|(?<=[.!?…])[ \t]+)[ \t]*(?:{_STAMP}[ \t]*)?(?P<label>{_LABEL})[ \t]*:[ \t]*",
    re.IGNORECASE | re.MULTILINE,
)
_WORD = re.compile(r"\S+")
# Speaking rate used to place turns in time when the call's duration is unknown.
_WORDS_PER_SECOND = 2.5


def _speaker_name(label: str) -> str:
    """``Agent`` -> ``agent``, ``Customer`` -> ``caller``, ``Speaker 1`` -> ``speaker_1``, ``spk_0`` unchanged."""
    name = re.sub(r"[\s_]+", "_", label.strip().lower())
    if name in _AGENT_LABELS:
        return "agent"
    if name in _CALLER_LABELS:
        return "caller"
    match = re.fullmatch(r"speaker_?(\d+)", name)
    return f"speaker_{match.group(1)}" if match else name


def _seconds(stamp: str) -> float:
    seconds = 0.0
    for part in stamp.split(":"):
        seconds = seconds * 60 + int(part)
    return seconds


def _clean(text: str) -> str:
    return " ".join(text.split())


def _spread(turns: list[tuple[str, str]], duration: float | None) -> list[Segment]:
    """Place untimed turns over the call, each lasting in proportion to its words."""
    counts = [max(len(_WORD.findall(text)), 1) for _, text in turns]
    total_words = sum(counts)
    total = float(duration) if duration and duration > 0 else total_words / _WORDS_PER_SECOND
    segments: list[Segment] = []
    elapsed = 0
    for (speaker, text), words in zip(turns, counts, strict=True):
        start = total * elapsed / total_words
        elapsed += words
        segments.append(
            Segment(speaker=speaker, start=round(start, 3), end=round(total * elapsed / total_words, 3), text=text)
        )
    return segments


def _from_labelled_text(text: str, duration: float | None) -> list[Segment]:
    """Turns from ``Agent: ... Caller: ...`` text; unlabelled text is one turn of an ``unknown`` speaker."""
    matches = list(_TURN.finditer(text))
    if not matches:
        return _spread([("unknown", _clean(text))], duration)
    turns: list[tuple[str, str]] = []
    stamps: list[float | None] = []
    preamble = _clean(text[: matches[0].start()])
    if preamble:
        turns.append(("unknown", preamble))
        stamps.append(None)
    for index, match in enumerate(matches):
        stop = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        body = _clean(text[match.end() : stop])
        if body:
            turns.append((_speaker_name(match.group("label")), body))
            stamps.append(_seconds(match.group("stamp")) if match.group("stamp") else None)
    if turns and all(stamp is not None for stamp in stamps):
        return _stamped(turns, [stamp for stamp in stamps if stamp is not None], duration)
    return _spread(turns, duration)


def _stamped(turns: list[tuple[str, str]], starts: list[float], duration: float | None) -> list[Segment]:
    """Turns that carry their own start times; each ends where the next begins (the last at the call's end)."""
    segments = []
    for index, ((speaker, text), start) in enumerate(zip(turns, starts, strict=True)):
        if index + 1 < len(starts):
            end = max(starts[index + 1], start)
        else:
            end = max(float(duration or 0), start + len(_WORD.findall(text)) / _WORDS_PER_SECOND)
        segments.append(Segment(speaker=speaker, start=start, end=round(end, 3), text=text))
    return segments


def _first(item: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if item.get(name) is not None:
            return item[name]
    return None


def _from_segment_list(items: list[Any], duration: float | None) -> list[Segment]:
    """Turns from ``[{speaker, start, end, text}, ...]`` (also ``start_time``/``end_time``/``content``)."""
    turns: list[tuple[str, str]] = []
    times: list[tuple[float, float] | None] = []
    for position, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise PermanentStageError(f"Transcript segment {position} is not an object")
        text = _first(item, "text", "content", "transcript")
        if not isinstance(text, str) or not text.strip():
            continue
        speaker = _first(item, "speaker", "speaker_label", "role") or "unknown"
        turns.append((_speaker_name(str(speaker)), _clean(text)))
        start, end = _first(item, "start", "start_time"), _first(item, "end", "end_time")
        try:
            times.append((float(start), float(end)) if start is not None and end is not None else None)
        except (TypeError, ValueError) as error:
            raise PermanentStageError(f"Transcript segment {position} has a time that is not a number") from error
    if times and all(time is not None for time in times):
        return [
            Segment(speaker=speaker, start=time[0], end=max(time), text=text)
            for (speaker, text), time in zip(turns, times, strict=True)
            if time is not None
        ]
    return _spread(turns, duration)


def transcript_from_source(job: Job) -> Transcript:
    """The transcript that came with the call, from ``source_metadata["transcription"]``.

    Accepted: CallRail's plain text (optionally with ``Agent:`` / ``Caller:`` labels, optionally ``[mm:ss]``
    stamps), a list of ``{speaker, start, end, text}`` segments, or an object holding either under
    ``segments`` or ``text``. Turns without times are spread over the call's duration in proportion to words.
    """
    raw: Any = job.source_metadata.get("transcription")
    language = job.source_metadata.get("language_code")
    if isinstance(raw, str) and raw.lstrip()[:1] in ("[", "{"):
        # Text may merely start with a bracket, e.g. "[00:01] Agent: ...".
        with contextlib.suppress(ValueError):
            raw = json.loads(raw)
    if isinstance(raw, Mapping):
        language = raw.get("language_code", language)
        names = ("segments", "utterances", "turns", "text", "transcript")
        raw = next((raw[name] for name in names if raw.get(name)), None)
    duration = float(job.duration_seconds) if job.duration_seconds else None
    if isinstance(raw, str) and raw.strip():
        segments = _from_labelled_text(raw, duration)
    elif isinstance(raw, list) and raw:
        segments = _from_segment_list(raw, duration)
    else:
        segments = []
    if not segments:
        raise PermanentStageError(
            f"Job {job.job_id} has no transcript from its source (source_metadata.transcription is missing or "
            "empty); enable transcription at the source or set processing.transcription.provider to aws_transcribe"
        )
    return Transcript(
        text=" ".join(segment.text for segment in segments),
        segments=segments,
        language_code=language if isinstance(language, str) else None,
        source="source",
    )


# ---------------------------------------------------------------------------------------------------------------
# Provider ``aws_transcribe``: the recording copied to S3 and transcribed by Amazon Transcribe.
# ---------------------------------------------------------------------------------------------------------------

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


def _where(url: str) -> str:
    """A URL without its query string (CallRail's audio links carry an access key there)."""
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc}{parsed.path}"


class _TranscribeOutput(BaseModel):
    """The parts of Amazon Transcribe's output document that the pipeline reads."""

    class Results(BaseModel):
        transcripts: list[dict[str, Any]] = Field(default_factory=list)
        items: list[dict[str, Any]] = Field(default_factory=list)
        speaker_labels: dict[str, Any] | None = None
        audio_segments: list[dict[str, Any]] = Field(default_factory=list)
        language_code: str | None = None

    results: Results


class AwsTranscribe:
    """Copies a call's recording to the artifacts bucket and transcribes it with Amazon Transcribe."""

    def __init__(
        self,
        bucket: str,
        transcribe: Any = None,
        s3: Any = None,
        http: httpx.Client | None = None,
        *,
        timeout: httpx.Timeout = _DEFAULT_TIMEOUT,
        max_recording_bytes: int = _MAX_RECORDING_BYTES,
    ) -> None:
        self.bucket = bucket
        self._transcribe = transcribe if transcribe is not None else aws.client("transcribe")
        self._store = ArtifactStore(bucket, s3)
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
                raise PermanentStageError(f"Recording document {_where(url)} is not a JSON object") from error
            if not isinstance(target, str) or not target:
                raise PermanentStageError(f"Recording document {_where(url)} has no audio url")
            audio, audio_type, final_url = self._get(target, None)
            if _mime(audio_type) == "application/json":
                raise PermanentStageError(f"Recording link {_where(target)} answered JSON, not audio")
            return audio, audio_type, final_url
        return body, content_type, url

    def _get(self, url: str, headers: Mapping[str, str] | None) -> tuple[bytes, str, str]:
        """Body, content type and final URL (after redirects) of ``url``; HTTP failures mapped to stage errors."""
        if urlparse(url).scheme not in ("http", "https"):
            raise PermanentStageError(f"Recording URL {_where(url)} is not http(s)")
        try:
            with self._http.stream(
                "GET", url, headers=dict(headers or {}), timeout=self._timeout, follow_redirects=True
            ) as response:
                status = response.status_code
                if status in (408, 429) or status >= 500:
                    raise TransientStageError(f"Recording {_where(url)} answered {status}; retry later")
                if status >= 400:
                    raise PermanentStageError(f"Recording {_where(url)} answered {status}")
                if status >= 300:
                    raise PermanentStageError(f"Recording {_where(url)} answered {status} without a usable redirect")
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > self._max_bytes:
                        raise PermanentStageError(f"Recording {_where(url)} is larger than {self._max_bytes} bytes")
                    chunks.append(chunk)
                return b"".join(chunks), response.headers.get("content-type", ""), str(response.url)
        except httpx.TimeoutException as error:
            raise TransientStageError(f"Recording {_where(url)} timed out; retry later") from error
        except httpx.TransportError as error:
            raise TransientStageError(
                f"Recording {_where(url)} could not be fetched: {type(error).__name__}"
            ) from error


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _speaker_by_start(speaker_labels: Mapping[str, Any] | None) -> dict[str, str]:
    """Item start time -> speaker, from the older ``speaker_labels.segments[].items`` form."""
    mapping: dict[str, str] = {}
    for segment in (speaker_labels or {}).get("segments", []) or []:
        for item in segment.get("items", []) or []:
            if item.get("start_time") is not None and item.get("speaker_label"):
                mapping[str(item["start_time"])] = str(item["speaker_label"])
    return mapping


def _turns_from_items(items: Iterable[Mapping[str, Any]], speakers: Mapping[str, str]) -> list[Segment]:
    """Consecutive words of one speaker joined into a turn; punctuation sticks to the word before it."""
    segments: list[Segment] = []
    speaker: str | None = None
    words: list[str] = []
    start = end = 0.0
    for item in items:
        alternatives = item.get("alternatives") or [{}]
        content = str(alternatives[0].get("content", ""))
        if item.get("type") == "punctuation":
            if words:
                words[-1] += content
            continue
        begin, finish = _number(item.get("start_time")), _number(item.get("end_time"))
        if begin is None or finish is None or not content:
            continue
        label = item.get("speaker_label") or speakers.get(str(item.get("start_time"))) or speaker or "spk_0"
        if label != speaker and words:
            segments.append(Segment(speaker=speaker or "spk_0", start=start, end=end, text=" ".join(words)))
            words = []
        if not words:
            start = begin
        speaker, end = str(label), finish
        words.append(content)
    if words:
        segments.append(Segment(speaker=speaker or "spk_0", start=start, end=end, text=" ".join(words)))
    return segments


def transcript_from_transcribe_output(document: Mapping[str, Any], language_code: str | None = None) -> Transcript:
    """A ``Transcript`` from Amazon Transcribe's output JSON (``results.transcripts``, ``items``, speaker labels)."""
    try:
        results = _TranscribeOutput.model_validate(document).results
    except ValidationError as error:
        raise PermanentStageError(f"Transcribe output is not in the documented format: {error}") from error
    text = " ".join(str(entry.get("transcript", "")) for entry in results.transcripts).strip()
    segments = _turns_from_items(results.items, _speaker_by_start(results.speaker_labels))
    if not segments:
        for entry in results.audio_segments:
            begin, finish = _number(entry.get("start_time")), _number(entry.get("end_time"))
            if entry.get("transcript") and begin is not None and finish is not None:
                speaker = str(entry.get("speaker_label") or "spk_0")
                segments.append(Segment(speaker=speaker, start=begin, end=finish, text=str(entry["transcript"])))
    if not segments and text:
        segments = [Segment(speaker="spk_0", start=0.0, end=0.0, text=text)]
    if not text:
        text = " ".join(segment.text for segment in segments)
    return Transcript(
        text=text,
        segments=segments,
        language_code=language_code or results.language_code,
        source="aws_transcribe",
    )
