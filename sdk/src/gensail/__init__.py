"""Python client of the Gensail API: ``Gensail`` (sync) and ``AsyncGensail``, typed, paginated and retried."""

from gensail._async import AsyncGensail, AsyncPager
from gensail._retry import RetryPolicy
from gensail._sync import Gensail, SyncPager
from gensail._version import __version__
from gensail.batch_models import BatchCounts, BatchSelection, BatchStatus, RequeueBatch, RequeueBatchList
from gensail.config_models import ConfigDocument, ConfigHistory, ConfigPreview, EffectiveConfig, HistoryEntry
from gensail.errors import (
    APIConnectionError,
    APIError,
    BatchFinished,
    BatchInProgress,
    BatchNotFound,
    Forbidden,
    GensailError,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InvalidStatus,
    JobNotFound,
    JobNotSkipped,
    RateLimited,
    Unauthorized,
    ValidationError,
    WaitTimeout,
)
from gensail.models import Job, JobList, JobStatus, RequeueResponse

__all__ = [
    "APIConnectionError",
    "APIError",
    "AsyncGensail",
    "AsyncPager",
    "BatchCounts",
    "BatchFinished",
    "BatchInProgress",
    "BatchNotFound",
    "BatchSelection",
    "BatchStatus",
    "ConfigDocument",
    "ConfigHistory",
    "ConfigPreview",
    "EffectiveConfig",
    "Forbidden",
    "Gensail",
    "GensailError",
    "HistoryEntry",
    "IdempotencyKeyInUse",
    "IdempotencyKeyReused",
    "InvalidStatus",
    "Job",
    "JobList",
    "JobNotFound",
    "JobNotSkipped",
    "JobStatus",
    "RateLimited",
    "RequeueBatch",
    "RequeueBatchList",
    "RequeueResponse",
    "RetryPolicy",
    "SyncPager",
    "Unauthorized",
    "ValidationError",
    "WaitTimeout",
    "__version__",
]
