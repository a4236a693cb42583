"""Provider ``source``: the transcript that came with the call, in each shape CallRail or our data may give."""

from __future__ import annotations

import json

import pytest

from shared.pipeline.errors import PermanentStageError
from shared.pipeline.transcripts import transcript_from_source
from tests.integration.pipeline.conftest import make_job

CALLRAIL_TEXT = (
    "Agent: Thank you for calling Bright Smile Dental, this is Dana. How can I help you?\n"
    "Caller: Hi, I'd like to book a cleaning for next week.\n"
    "Agent: Sure, we have Tuesday at ten.\n"
    "Customer: Perfect, thanks."
)


def test_callrail_text_with_labels_becomes_turns_spread_over_the_call():
    # Given CallRail's plain-text transcription with speaker labels and a 60 s call
    job = make_job(transcription=CALLRAIL_TEXT, duration_seconds=60)

    # When the transcript is read from the source
    transcript = transcript_from_source(job)

    # Then each label starts a turn, "Customer" is the caller, and time is shared out by words
    assert [segment.speaker for segment in transcript.segments] == ["agent", "caller", "agent", "caller"]
    assert transcript.segments[1].text == "Hi, I'd like to book a cleaning for next week."
    assert transcript.segments[0].start == 0
    assert transcript.segments[-1].end == pytest.approx(60)
    words = [len(segment.text.split()) for segment in transcript.segments]
    first = transcript.segments[0]
    assert first.end - first.start == pytest.approx(60 * words[0] / sum(words), abs=0.01)
    assert all(
        a.end == pytest.approx(b.start) for a, b in zip(transcript.segments, transcript.segments[1:], strict=False)
    )
    assert "Agent:" not in transcript.text
    assert transcript.text.startswith("Thank you for calling Bright Smile Dental")
    assert transcript.source == "source"


def test_labels_inline_on_one_line_still_split_into_turns():
    job = make_job(transcription="Agent: Good morning, how can I help? Caller: My sink is leaking. Agent: Oh no.")

    transcript = transcript_from_source(job)

    assert [(s.speaker, s.text) for s in transcript.segments] == [
        ("agent", "Good morning, how can I help?"),
        ("caller", "My sink is leaking."),
        ("agent", "Oh no."),
    ]


def test_timestamped_labels_keep_their_times():
    job = make_job(
        transcription="[00:00] Agent: Hello there.\n[00:04] Caller: Hi, is this the plumber?\n[01:02] Agent: Yes.",
        duration_seconds=70,
    )

    transcript = transcript_from_source(job)

    assert [(s.start, s.end) for s in transcript.segments] == [(0, 4), (4, 62), (62, 70)]


def test_text_without_labels_is_one_turn_of_an_unknown_speaker():
    job = make_job(transcription="Hello, I am calling about the quote you sent.", duration_seconds=20)

    transcript = transcript_from_source(job)

    assert len(transcript.segments) == 1
    segment = transcript.segments[0]
    assert (segment.speaker, segment.start, segment.end) == ("unknown", 0, 20)


def test_segment_list_with_times_is_kept_as_given():
    segments = [
        {"speaker": "agent", "start": 0.4, "end": 3.2, "text": "Thanks for calling."},
        {"speaker": "caller", "start": 3.5, "end": 7.0, "text": "I need a new roof."},
    ]
    job = make_job(transcription=segments, language_code="en-US")

    transcript = transcript_from_source(job)

    assert [s.model_dump() for s in transcript.segments] == segments
    assert transcript.text == "Thanks for calling. I need a new roof."
    assert transcript.language_code == "en-US"


def test_segment_list_with_other_key_names_and_no_times_is_spread():
    # Given segments in the start_time/content style, without times, in a job stored as a JSON string
    stored = json.dumps(
        [{"speaker_label": "spk_0", "content": "one two three"}, {"role": "Customer", "content": "four"}]
    )
    job = make_job(transcription=stored, duration_seconds=8)

    transcript = transcript_from_source(job)

    assert [(s.speaker, s.start, s.end) for s in transcript.segments] == [("spk_0", 0, 6), ("caller", 6, 8)]


def test_object_with_segments_and_language():
    job = make_job(
        transcription={
            "language_code": "es-US",
            "segments": [{"speaker": "agent", "start": 0, "end": 2, "text": "Hola"}],
        }
    )

    transcript = transcript_from_source(job)

    assert transcript.language_code == "es-US"
    assert transcript.text == "Hola"


def test_unknown_duration_uses_a_speaking_rate():
    job = make_job(transcription="Agent: one two three four five", duration_seconds=None)

    transcript = transcript_from_source(job)

    assert transcript.segments[0].end == pytest.approx(2.0)  # five words at 2.5 words per second


@pytest.mark.parametrize("missing", [None, "", "   ", [], {}])
def test_no_transcript_is_a_permanent_error_that_says_what_to_do(missing):
    metadata = {} if missing is None else {"transcription": missing}
    job = make_job(**metadata)

    with pytest.raises(PermanentStageError, match=r"no transcript.*aws_transcribe"):
        transcript_from_source(job)


def test_malformed_segment_is_a_permanent_error():
    job = make_job(transcription=[{"speaker": "agent", "start": "soon", "end": 2, "text": "hi"}])

    with pytest.raises(PermanentStageError, match="not a number"):
        transcript_from_source(job)


def test_object_with_empty_segments_falls_back_to_text():
    transcript = transcript_from_source(make_job(transcription={"segments": [], "text": "Agent: Hello."}))

    assert [(s.speaker, s.text) for s in transcript.segments] == [("agent", "Hello.")]
