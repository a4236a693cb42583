"""The artifacts bucket: keys per the contract, JSON round trips, encryption requested, S3 errors mapped."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from shared.adapters.s3 import S3ArtifactStore
from shared.pipeline.artifacts import analysis_key, recording_key, result_key, transcript_key
from shared.pipeline.errors import PermanentStageError, TransientStageError
from shared.pipeline.transcripts import Segment, Transcript


def test_keys_follow_the_contract():
    assert recording_key("42") == "recordings/42"
    assert transcript_key("42") == "transcripts/42.json"
    assert analysis_key("42") == "analysis/42.json"
    assert result_key("42") == "results/42.json"


def test_a_model_round_trips_encrypted_as_json(bucket):
    store = S3ArtifactStore(bucket, boto3.client("s3"))
    transcript = Transcript(
        text="Hello there.",
        segments=[Segment(speaker="agent", start=0, end=1.5, text="Hello there.")],
        language_code="en-US",
        source="source",
    )

    key = store.put_json(transcript_key("42"), transcript)

    assert key == "transcripts/42.json"
    assert Transcript.model_validate(store.get_json(key)) == transcript
    head = boto3.client("s3").head_object(Bucket=bucket, Key=key)
    assert head["ContentType"] == "application/json"
    assert head["ServerSideEncryption"] == "AES256"


def test_dicts_bytes_and_existence(bucket):
    store = S3ArtifactStore(bucket, boto3.client("s3"))

    assert not store.exists(result_key("42"))
    store.put_json(result_key("42"), {"job_id": "42", "sentiment": "positive", "note": "café"})
    store.put_bytes(recording_key("42"), b"ID3audio", "audio/mpeg")

    assert store.exists(result_key("42"))
    assert store.get_json(result_key("42")) == {"job_id": "42", "sentiment": "positive", "note": "café"}
    assert boto3.client("s3").get_object(Bucket=bucket, Key="recordings/42")["Body"].read() == b"ID3audio"


def test_a_missing_or_malformed_artifact_is_permanent(bucket):
    store = S3ArtifactStore(bucket, boto3.client("s3"))
    store.put_bytes("analysis/7.json", b"not json", "application/json")

    with pytest.raises(PermanentStageError, match="does not exist"):
        store.get_json("transcripts/404.json")
    with pytest.raises(PermanentStageError, match="not valid JSON"):
        store.get_json("analysis/7.json")


@pytest.mark.parametrize(("code", "status"), [("SlowDown", 503), ("InternalError", 500), ("ServiceUnavailable", 503)])
def test_s3_throttling_and_faults_are_transient(code, status):
    s3 = boto3.client("s3", region_name="us-east-1")
    store = S3ArtifactStore("gensail-artifacts-test", s3=s3)
    with Stubber(s3) as stub:
        stub.add_client_error("put_object", service_error_code=code, http_status_code=status)
        stub.add_client_error("get_object", service_error_code=code, http_status_code=status)
        stub.add_client_error("head_object", service_error_code=code, http_status_code=status)
        with pytest.raises(TransientStageError):
            store.put_json("results/1.json", {"a": 1})
        with pytest.raises(TransientStageError):
            store.get_json("results/1.json")
        with pytest.raises(TransientStageError):
            store.exists("results/1.json")


def test_access_denied_is_permanent():
    s3 = boto3.client("s3", region_name="us-east-1")
    with Stubber(s3) as stub:
        stub.add_client_error("put_object", service_error_code="AccessDenied", http_status_code=403)
        with pytest.raises(PermanentStageError, match="AccessDenied"):
            S3ArtifactStore("gensail-artifacts-test", s3=s3).put_bytes("recordings/1", b"x", "audio/mpeg")
