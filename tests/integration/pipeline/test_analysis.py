"""Analysis providers: the offline ``builtin`` one and Bedrock's Converse API (stubbed: moto has no Bedrock)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from shared.pipeline.analysis import SYSTEM_PROMPT, BedrockAnalyzer, analyze_builtin
from shared.pipeline.errors import PermanentStageError, TransientStageError
from shared.pipeline.transcripts import Segment, Transcript

MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"


def transcript(*turns: tuple[str, float, float, str]) -> Transcript:
    segments = [Segment(speaker=speaker, start=start, end=end, text=text) for speaker, start, end, text in turns]
    return Transcript(
        text=" ".join(s.text for s in segments), segments=segments, language_code="en-US", source="source"
    )


HAPPY_CALL = transcript(
    ("agent", 0, 6, "Thank you for calling Bright Smile Dental. How can I help?"),
    ("caller", 6, 20, "Hi, I'd like to book a teeth cleaning. Your team was great last time, really helpful."),
    ("agent", 20, 30, "Wonderful! Teeth cleaning on Tuesday works. No problem at all."),
)
ANGRY_CALL = transcript(
    ("caller", 0, 12, "This is terrible. My order arrived broken and I am very frustrated."),
    ("agent", 12, 16, "I'm sorry about that."),
    ("caller", 16, 25, "The service was not good and I want a refund."),
)


def test_builtin_counts_words_talk_time_and_keywords():
    analysis = analyze_builtin(HAPPY_CALL, ["cleaning", "Teeth Cleaning", "appointment", "book"])

    assert analysis.provider == "builtin"
    assert analysis.word_count == 37
    assert analysis.talk_time_seconds == {"agent": 16.0, "caller": 14.0}
    # case-insensitive, whole words and phrases, every configured keyword listed
    assert analysis.keyword_hits == {"cleaning": 2, "Teeth Cleaning": 2, "appointment": 0, "book": 1}


def test_keywords_match_whole_words_only():
    call = transcript(("caller", 0, 5, "I booked it, then rebooked; the booking is in my notebook. Book it."))

    assert analyze_builtin(call, ["book"]).keyword_hits == {"book": 1}


def test_builtin_sentiment_of_a_happy_call_is_positive_and_says_why():
    sentiment = analyze_builtin(HAPPY_CALL, []).sentiment

    assert sentiment.label == "positive"
    assert 0.25 <= sentiment.score <= 1
    assert sentiment.reason is not None
    assert "wonderful" in sentiment.reason


def test_builtin_sentiment_of_an_angry_call_is_negative_with_negation():
    sentiment = analyze_builtin(ANGRY_CALL, []).sentiment

    assert sentiment.label == "negative"
    assert -1 <= sentiment.score <= -0.25
    assert sentiment.reason is not None
    assert "terrible" in sentiment.reason


@pytest.mark.parametrize(
    ("words", "label", "reason"),
    [
        ("No problem at all.", "positive", "not problem"),
        ("The service was not good.", "negative", "not good"),
        ("It was good.", "positive", "good"),
        ("That is a problem.", "negative", "problem"),
    ],
)
def test_builtin_sentiment_handles_negation(words, label, reason):
    sentiment = analyze_builtin(transcript(("caller", 0, 3, words)), []).sentiment

    assert sentiment.label == label
    assert sentiment.reason is not None
    assert reason in sentiment.reason


def test_builtin_sentiment_without_lexicon_words_is_neutral():
    sentiment = analyze_builtin(transcript(("caller", 0, 3, "The invoice number is 4471.")), []).sentiment

    assert (sentiment.label, sentiment.score) == ("neutral", 0.0)


def test_builtin_topics_and_summary():
    analysis = analyze_builtin(HAPPY_CALL, [])

    assert analysis.topics[:2] == ["teeth", "cleaning"]
    assert len(analysis.topics) <= 5
    assert not {"the", "you", "thank", "hi"} & set(analysis.topics)
    assert analysis.summary == "Thank you for calling Bright Smile Dental. How can I help?"


def test_builtin_summary_is_trimmed_and_none_for_empty_text():
    long = transcript(("agent", 0, 60, "word " * 200))
    empty = Transcript(text="", segments=[], language_code=None, source="source")

    summary = analyze_builtin(long, []).summary
    assert summary is not None
    assert len(summary) <= 280
    assert summary.endswith("…")
    assert analyze_builtin(empty, []).summary is None


def test_builtin_is_deterministic():
    assert analyze_builtin(ANGRY_CALL, ["refund"]) == analyze_builtin(ANGRY_CALL, ["refund"])


def _converse_reply(text: str) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 412, "outputTokens": 96, "totalTokens": 508},
        "metrics": {"latencyMs": 1280},
    }


@pytest.fixture
def bedrock():
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def test_bedrock_request_and_parsed_reply(bedrock):
    client, stub = bedrock
    reply = {
        "summary": "The caller booked a teeth cleaning for Tuesday.",
        "sentiment": {"label": "positive", "score": 0.8, "reason": "The caller praised the team."},
        "topics": ["teeth cleaning", "appointment booking"],
    }
    expected_request = {
        "modelId": MODEL,
        "system": [{"text": SYSTEM_PROMPT}],
        "messages": [{"role": "user", "content": [{"text": ANY}]}],
        "inferenceConfig": ANY,
    }
    stub.add_response("converse", _converse_reply("```json\n" + json.dumps(reply) + "\n```"), expected_request)

    analysis = BedrockAnalyzer(MODEL, bedrock=client).analyze(HAPPY_CALL, ["cleaning"])

    assert analysis.provider == "bedrock"
    assert analysis.summary == reply["summary"]
    assert analysis.sentiment.model_dump() == reply["sentiment"]
    assert analysis.topics == reply["topics"]
    # counts are computed locally, exactly as the builtin provider does
    builtin = analyze_builtin(HAPPY_CALL, ["cleaning"])
    assert (analysis.word_count, analysis.talk_time_seconds, analysis.keyword_hits) == (
        builtin.word_count,
        builtin.talk_time_seconds,
        builtin.keyword_hits,
    )


def test_bedrock_prompt_carries_the_speaker_turns():
    sent: dict[str, Any] = {}

    class Recorder:
        def converse(self, **request):
            sent.update(request)
            return _converse_reply(
                '{"summary": "A complaint.", "sentiment": {"label": "negative", "score": -0.6, '
                '"reason": "The caller is upset."}, "topics": []}'
            )

    analysis = BedrockAnalyzer(MODEL, bedrock=Recorder()).analyze(ANGRY_CALL, [])

    prompt = sent["messages"][0]["content"][0]["text"]
    assert "caller: This is terrible." in prompt
    assert "agent: I'm sorry about that." in prompt
    assert "JSON" in sent["system"][0]["text"]
    assert analysis.summary == "A complaint."
    assert analysis.sentiment.reason == "The caller is upset."


@pytest.mark.parametrize(
    "text",
    [
        "I think the caller was happy.",
        '{"summary": "x", "sentiment": {"label": "ecstatic", "score": 0.9}, "topics": []}',
        '{"summary": "x", "sentiment": {"label": "positive", "score": 7}, "topics": []}',
        '{"summary": "x", "topics": []}',
        '{"summary": "x", "sentiment": {"label": "positive", "score": 0.9}, "topics": []}',
        '{"summary": "x", "sentiment": {"label": "positive", "score": 0.9, "reason": " "}, "topics": []}',
        '{"summary": "", "sentiment": {"label": "positive", "score": 0.9, "reason": "Happy."}, "topics": []}',
        '{"sentiment": {"label": "positive", "score": 0.9, "reason": "Happy."}, "topics": []}',
        '{"summary": "x", "sentiment": {"label": "positive", "score": 0.9, "reason": "Happy."}}',
    ],
)
def test_bedrock_output_that_is_not_the_requested_json_is_permanent(bedrock, text):
    client, stub = bedrock
    stub.add_response("converse", _converse_reply(text))

    with pytest.raises(PermanentStageError, match="not the requested JSON"):
        BedrockAnalyzer(MODEL, bedrock=client).analyze(HAPPY_CALL, [])


@pytest.mark.parametrize("code", ["ThrottlingException", "ServiceUnavailableException", "ModelTimeoutException"])
def test_bedrock_throttling_and_timeouts_are_transient(bedrock, code):
    client, stub = bedrock
    stub.add_client_error("converse", service_error_code=code, http_status_code=429)

    with pytest.raises(TransientStageError):
        BedrockAnalyzer(MODEL, bedrock=client).analyze(HAPPY_CALL, [])


def test_bedrock_access_denied_is_permanent(bedrock):
    client, stub = bedrock
    stub.add_client_error("converse", service_error_code="AccessDeniedException", http_status_code=403)

    with pytest.raises(PermanentStageError, match="AccessDeniedException"):
        BedrockAnalyzer(MODEL, bedrock=client).analyze(HAPPY_CALL, [])
