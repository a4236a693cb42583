"""Where a job's artifacts live in the artifacts bucket: recordings, transcripts, analyses and results.

The store itself is ``shared.adapters.s3.S3ArtifactStore`` behind ``shared.ports.ArtifactStore``.
"""

from __future__ import annotations


def recording_key(job_id: str) -> str:
    """Where the copy of a job's call recording lives."""
    return f"recordings/{job_id}"


def transcript_key(job_id: str) -> str:
    """Where a job's transcript (a ``Transcript`` document) lives."""
    return f"transcripts/{job_id}.json"


def analysis_key(job_id: str) -> str:
    """Where a job's analysis (an ``Analysis`` document) lives."""
    return f"analysis/{job_id}.json"


def result_key(job_id: str) -> str:
    """Where a job's published result lives."""
    return f"results/{job_id}.json"
