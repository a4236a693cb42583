"""Python client of the Gensail API: ``Gensail`` (sync) and ``AsyncGensail``, typed, paginated and retried."""

from gensail._async import AsyncGensail, AsyncPager
from gensail._retry import RetryPolicy
from gensail._sync import Gensail, SyncPager
from gensail._version import __version__
from gensail.config_models import ConfigDocument, ConfigHistory, ConfigPreview, EffectiveConfig, HistoryEntry
from gensail.errors import (
    APIConnectionError,
    APIError,
    Forbidden,
    GensailError,
    InvalidStatus,
    JobNotFound,
    JobNotSkipped,
    RateLimited,
    Unauthorized,
    ValidationError,
)
from gensail.models import Job, JobList, JobStatus, RequeueResponse

__all__ = [
    "APIConnectionError",
    "APIError",
    "AsyncGensail",
    "AsyncPager",
    "ConfigDocument",
    "ConfigHistory",
    "ConfigPreview",
    "EffectiveConfig",
    "Forbidden",
    "Gensail",
    "GensailError",
    "HistoryEntry",
    "InvalidStatus",
    "Job",
    "JobList",
    "JobNotFound",
    "JobNotSkipped",
    "JobStatus",
    "RateLimited",
    "RequeueResponse",
    "RetryPolicy",
    "SyncPager",
    "Unauthorized",
    "ValidationError",
    "__version__",
]
