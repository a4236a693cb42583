"""Transcripts: the one that came with the call (provider ``source``) and Amazon Transcribe's output document.

The Transcribe adapter itself (copying the recording, starting and checking the job) is ``shared.adapters.transcribe``.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from shared.jobs.models import Job
from shared.pipeline.errors import PermanentStageError


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


class _TranscribeOutput(BaseModel):
    """The parts of Amazon Transcribe's output document that the pipeline reads."""

    class Results(BaseModel):
        transcripts: list[dict[str, Any]] = Field(default_factory=list)
        items: list[dict[str, Any]] = Field(default_factory=list)
        speaker_labels: dict[str, Any] | None = None
        audio_segments: list[dict[str, Any]] = Field(default_factory=list)
        language_code: str | None = None

    results: Results


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
