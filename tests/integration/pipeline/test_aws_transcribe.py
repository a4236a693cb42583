"""Provider ``aws_transcribe`` against moto (which never writes the transcript) and a recording server on loopback."""

from __future__ import annotations

import json
from typing import Any

import boto3
import httpx
import pytest
from botocore.stub import Stubber

from shared.adapters.s3 import S3ArtifactStore
from shared.adapters.transcribe import AwsTranscribe
from shared.pipeline.errors import PermanentStageError, TransientStageError
from shared.pipeline.transcripts import transcript_from_transcribe_output
from tests.integration.pipeline.conftest import LoopbackServer, Reply, make_job

AUDIO = b"ID3\x04\x00fake mp3 frames" * 64
JOB_NAME = "job-1732000000123-0"


def _word(content: str, start: float, end: float, speaker: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": "pronunciation",
        "start_time": f"{start:.3f}",
        "end_time": f"{end:.3f}",
        "alternatives": [{"confidence": "0.998", "content": content}],
    }
    if speaker:
        item["speaker_label"] = speaker
    return item


def _mark(content: str) -> dict[str, Any]:
    return {"type": "punctuation", "alternatives": [{"confidence": "0.0", "content": content}]}


def transcribe_output(with_item_speakers: bool = True) -> dict[str, Any]:
    """Amazon Transcribe's documented output for a short two-speaker call."""
    words = [
        ("Thanks", 0.5, 0.9, "spk_0"),
        ("for", 0.9, 1.0, "spk_0"),
        ("calling", 1.0, 1.5, "spk_0"),
        (".", None, None, None),
        ("Hi", 2.1, 2.4, "spk_1"),
        (",", None, None, None),
        ("I", 2.5, 2.6, "spk_1"),
        ("need", 2.6, 2.9, "spk_1"),
        ("help", 2.9, 3.4, "spk_1"),
        (".", None, None, None),
    ]
    items = [
        _mark(c) if s is None else _word(c, s, e, sp if with_item_speakers else None)  # type: ignore[arg-type]
        for c, s, e, sp in words
    ]
    segments = [
        {
            "start_time": "0.500",
            "end_time": "1.500",
            "speaker_label": "spk_0",
            "items": [
                {"start_time": f"{s:.3f}", "end_time": f"{e:.3f}", "speaker_label": sp} for _, s, e, sp in words[:3]
            ],
        },
        {
            "start_time": "2.100",
            "end_time": "3.400",
            "speaker_label": "spk_1",
            "items": [
                {"start_time": f"{s:.3f}", "end_time": f"{e:.3f}", "speaker_label": sp}
                for _, s, e, sp in words[4:]
                if s is not None
            ],
        },
    ]
    return {
        "jobName": JOB_NAME,
        "accountId": "123456789012",
        "status": "COMPLETED",
        "results": {
            "transcripts": [{"transcript": "Thanks for calling. Hi, I need help."}],
            "speaker_labels": {"speakers": 2, "segments": segments},
            "items": items,
        },
    }


@pytest.fixture
def provider(bucket: str, server: LoopbackServer) -> AwsTranscribe:
    return AwsTranscribe(bucket, transcribe=boto3.client("transcribe"), s3=boto3.client("s3"), http=httpx.Client())


def test_start_follows_recording_json_to_the_audio_and_starts_the_job(provider, bucket, server):
    # Given CallRail's recording.json that points at the audio, both served on loopback
    audio_url = server.reply("/audio/rec.mp3", Reply(body=AUDIO, headers={"Content-Type": "audio/mpeg"}))
    recording_url = server.reply(
        "/v3/a/123/calls/CAL1/recording.json",
        Reply(
            body=json.dumps({"url": audio_url + "?access_key=secret"}).encode(),
            headers={"Content-Type": "application/json"},
        ),
    )
    job = make_job(recording_url=recording_url)

    # When transcription starts
    provider.start(job, JOB_NAME, "en-US", recording_headers={"Authorization": 'Token token="k"'})

    # Then the audio is in the bucket and Transcribe was asked for speaker labels, output to our bucket
    s3 = boto3.client("s3")
    stored = s3.get_object(Bucket=bucket, Key=f"recordings/{job.job_id}")
    assert stored["Body"].read() == AUDIO
    assert stored["ContentType"] == "audio/mpeg"
    transcription = boto3.client("transcribe").get_transcription_job(TranscriptionJobName=JOB_NAME)["TranscriptionJob"]
    assert transcription["Media"]["MediaFileUri"] == f"s3://{bucket}/recordings/{job.job_id}"
    assert transcription["LanguageCode"] == "en-US"
    assert transcription["MediaFormat"] == "mp3"
    assert transcription["Settings"]["ShowSpeakerLabels"] is True
    assert transcription["Settings"]["MaxSpeakerLabels"] == 2
    # And the API credentials went to CallRail's API only, not to the audio link
    assert [r.headers.get("Authorization") for r in server.received] == ['Token token="k"', None]


def test_start_passes_the_output_location(bucket, server):
    audio_url = server.reply("/r.wav", Reply(body=AUDIO, headers={"Content-Type": "audio/wav"}))
    transcribe = boto3.client("transcribe")
    provider = AwsTranscribe(bucket, transcribe=transcribe, s3=boto3.client("s3"), http=httpx.Client())
    with Stubber(transcribe) as stub:
        stub.add_response(
            "start_transcription_job",
            {"TranscriptionJob": {"TranscriptionJobName": JOB_NAME}},
            {
                "TranscriptionJobName": JOB_NAME,
                "LanguageCode": "en-GB",
                "Media": {"MediaFileUri": f"s3://{bucket}/recordings/1732000000123"},
                "MediaFormat": "wav",
                "OutputBucketName": bucket,
                "OutputKey": f"transcribe/{JOB_NAME}.json",
                "Settings": {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2},
            },
        )
        provider.start(make_job(recording_url=audio_url), JOB_NAME, "en-GB")
        stub.assert_no_pending_responses()


def test_a_retried_start_is_fine_and_does_not_download_again(provider, server):
    audio_url = server.reply("/r.mp3", Reply(body=AUDIO, headers={"Content-Type": "audio/mpeg"}))
    job = make_job(recording_url=audio_url)
    provider.start(job, JOB_NAME, "en-US")

    provider.start(job, JOB_NAME, "en-US")  # ConflictException from Transcribe: the job exists already

    assert len(server.received) == 1


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(status=503), TransientStageError),
        (Reply(status=429), TransientStageError),
        (Reply(status=404), PermanentStageError),
        (Reply(status=403), PermanentStageError),
    ],
)
def test_recording_errors_map_to_retry_or_fail(provider, server, reply, error):
    job = make_job(recording_url=server.reply("/recording.json", reply))

    with pytest.raises(error):
        provider.start(job, JOB_NAME, "en-US")


def test_a_recording_server_that_hangs_is_a_transient_error(bucket, server):
    url = server.reply("/slow.mp3", Reply(body=AUDIO, delay=2.0))
    provider = AwsTranscribe(
        bucket, boto3.client("transcribe"), boto3.client("s3"), http=httpx.Client(), timeout=httpx.Timeout(0.2)
    )

    with pytest.raises(TransientStageError, match="timed out"):
        provider.start(make_job(recording_url=url), JOB_NAME, "en-US")


def test_an_unreachable_recording_host_is_a_transient_error(provider, server):
    closed_port_url = "http://127.0.0.1:9/recording.json"  # discard port: nothing listens there

    with pytest.raises(TransientStageError):
        provider.start(make_job(recording_url=closed_port_url), JOB_NAME, "en-US")


def test_recording_json_without_url_and_missing_recording_are_permanent(provider, server):
    url = server.reply(
        "/calls/1/recording.json", Reply(body=b'{"name": "x"}', headers={"Content-Type": "application/json"})
    )

    with pytest.raises(PermanentStageError, match="no audio url"):
        provider.start(make_job(recording_url=url), JOB_NAME, "en-US")
    with pytest.raises(PermanentStageError, match="no recording"):
        provider.start(make_job(), JOB_NAME, "en-US")
    with pytest.raises(PermanentStageError, match="not http"):
        provider.start(make_job(recording_url="file:///etc/passwd"), JOB_NAME, "en-US")


def test_check_waits_then_reads_the_transcript_transcribe_wrote(provider, bucket, server):
    # Given a started job (moto moves it QUEUED -> IN_PROGRESS -> COMPLETED on each read, writing nothing)
    provider.start(make_job(recording_url=server.reply("/r.mp3", Reply(body=AUDIO))), JOB_NAME, "en-US")
    S3ArtifactStore(bucket, boto3.client("s3")).put_json(f"transcribe/{JOB_NAME}.json", transcribe_output())

    # When the stage polls
    polls = [provider.check(JOB_NAME) for _ in range(3)]

    # Then it waits twice and then has the speaker turns with their times
    assert polls[:2] == [None, None]
    transcript = polls[2]
    assert transcript is not None
    assert transcript.source == "aws_transcribe"
    assert transcript.language_code == "en-US"
    assert transcript.text == "Thanks for calling. Hi, I need help."
    assert [(s.speaker, s.start, s.end, s.text) for s in transcript.segments] == [
        ("spk_0", 0.5, 1.5, "Thanks for calling."),
        ("spk_1", 2.1, 3.4, "Hi, I need help."),
    ]


def test_speakers_from_the_older_speaker_labels_section():
    transcript = transcript_from_transcribe_output(transcribe_output(with_item_speakers=False))

    assert [s.speaker for s in transcript.segments] == ["spk_0", "spk_1"]


def test_audio_segments_when_items_are_absent():
    document = {
        "results": {
            "transcripts": [{"transcript": "Hello. Bye."}],
            "items": [],
            "audio_segments": [
                {"id": 0, "transcript": "Hello.", "start_time": "0.1", "end_time": "0.9", "speaker_label": "spk_0"},
                {"id": 1, "transcript": "Bye.", "start_time": "1.2", "end_time": "1.6", "speaker_label": "spk_1"},
            ],
        }
    }

    transcript = transcript_from_transcribe_output(document, language_code="en-AU")

    assert [(s.speaker, s.start, s.text) for s in transcript.segments] == [
        ("spk_0", 0.1, "Hello."),
        ("spk_1", 1.2, "Bye."),
    ]
    assert transcript.language_code == "en-AU"


def test_a_document_that_is_not_transcribe_output_is_permanent():
    with pytest.raises(PermanentStageError, match="documented format"):
        transcript_from_transcribe_output({"transcript": "hi"})


def test_a_failed_job_is_permanent_with_its_reason(bucket):
    transcribe = boto3.client("transcribe")
    with Stubber(transcribe) as stub:
        stub.add_response(
            "get_transcription_job",
            {
                "TranscriptionJob": {
                    "TranscriptionJobName": JOB_NAME,
                    "TranscriptionJobStatus": "FAILED",
                    "FailureReason": "The media format that you specified doesn't match the detected media format.",
                }
            },
            {"TranscriptionJobName": JOB_NAME},
        )
        with pytest.raises(PermanentStageError, match="detected media format"):
            AwsTranscribe(bucket, transcribe, boto3.client("s3")).check(JOB_NAME)


@pytest.mark.parametrize("code", ["ThrottlingException", "LimitExceededException", "InternalFailureException"])
def test_throttling_and_service_faults_are_transient(bucket, code):
    transcribe = boto3.client("transcribe")
    with Stubber(transcribe) as stub:
        stub.add_client_error("get_transcription_job", service_error_code=code, http_status_code=400)
        with pytest.raises(TransientStageError):
            AwsTranscribe(bucket, transcribe, boto3.client("s3")).check(JOB_NAME)


def test_an_unknown_job_is_permanent(bucket):
    with pytest.raises(PermanentStageError, match="BadRequestException"):
        AwsTranscribe(bucket, boto3.client("transcribe"), boto3.client("s3")).check("job-never-started")


def test_the_audio_link_may_redirect_to_the_file(provider, bucket, server):
    # Given recording.json -> a redirect link (as CallRail's access-key links are) -> the mp3 itself
    server.reply("/files/call.mp3", Reply(body=AUDIO, headers={"Content-Type": "binary/octet-stream"}))
    link = server.reply("/recording/redirect", Reply(status=302, headers={"Location": server.url("/files/call.mp3")}))
    url = server.reply("/recording.json", Reply(body=json.dumps({"url": link}).encode()))

    provider.start(make_job(recording_url=url), JOB_NAME, "en-US")

    transcription = boto3.client("transcribe").get_transcription_job(TranscriptionJobName=JOB_NAME)["TranscriptionJob"]
    assert transcription["MediaFormat"] == "mp3"  # from the final URL, since the type says nothing
    assert boto3.client("s3").get_object(Bucket=bucket, Key="recordings/1732000000123")["Body"].read() == AUDIO
