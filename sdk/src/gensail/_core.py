"""What the sync and the async client share: settings, requests, answers, errors and paging.

An :class:`Operation` describes one call (method, path, query, body, how to read the answer); the clients only
send it, with their own transport and sleep, through the same :class:`~gensail._retry.RetryBudget`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from gensail._retry import RetryPolicy
from gensail._version import __version__
from gensail.errors import GensailError, error_from_response

DEFAULT_BASE_URL = "https://analytics-api.gensail.com"
API_KEY_VARIABLE = "GENSAIL_API_KEY"
BASE_URL_VARIABLE = "GENSAIL_BASE_URL"
DEFAULT_TIMEOUT = 30.0

ResultT = TypeVar("ResultT")
ModelT = TypeVar("ModelT", bound=BaseModel)
ItemT = TypeVar("ItemT")
PageT = TypeVar("PageT")


@dataclass(frozen=True)
class Route:
    """One route of the API: its method, its path template, the model and status of its successful answer."""

    method: str
    path: str
    response: type[BaseModel]
    request: type[BaseModel] | None = None
    status: int = 200

    def url(self, **parameters: str) -> str:
        """The path with each ``{name}`` replaced by its value, percent-encoded."""
        return self.path.format(**{name: quote(str(value), safe="") for name, value in parameters.items()})


@dataclass(frozen=True)
class Operation(Generic[ResultT]):
    """One call to make: the request, and how its successful answer becomes a result."""

    method: str
    path: str
    parse: Callable[[httpx.Response], ResultT]
    params: Mapping[str, str | int] = field(default_factory=dict)
    content: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


def model_parser(model: type[ModelT]) -> Callable[[httpx.Response], ModelT]:
    def parse(response: httpx.Response) -> ModelT:
        return model.model_validate_json(response.content)

    return parse


@dataclass(frozen=True)
class PageSpec(Generic[PageT, ItemT]):
    """A paged listing: the operation for a cursor (``None``: the first page), a page's items and next cursor."""

    page: Callable[[str | None], Operation[PageT]]
    items: Callable[[PageT], list[ItemT]]
    next_cursor: Callable[[PageT], str | None]


@dataclass(frozen=True)
class ClientSettings:
    """The settings both clients are built from; the key and URL fall back to the environment."""

    api_key: str
    base_url: str
    timeout: float
    retry: RetryPolicy

    @classmethod
    def resolve(
        cls, api_key: str | None, base_url: str | None, timeout: float | None, retry: RetryPolicy | None
    ) -> ClientSettings:
        key = api_key or os.environ.get(API_KEY_VARIABLE)
        if not key:
            raise GensailError(f"No API key: pass api_key=... or set {API_KEY_VARIABLE}.")
        url = base_url or os.environ.get(BASE_URL_VARIABLE) or DEFAULT_BASE_URL
        return cls(
            api_key=key,
            base_url=url.rstrip("/"),
            timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
            retry=retry or RetryPolicy(),
        )

    def client_options(self) -> dict[str, Any]:
        """What ``httpx.Client`` and ``httpx.AsyncClient`` are both built with."""
        return {
            "base_url": self.base_url,
            "timeout": self.timeout,
            "headers": {
                "Authorization": f"Bearer {self.api_key}",
                "Accept": "application/json",
                "User-Agent": f"gensail-python/{__version__}",
            },
        }


def build_request(http: httpx.Client | httpx.AsyncClient, operation: Operation[Any]) -> httpx.Request:
    return http.build_request(
        operation.method,
        operation.path,
        params=dict(operation.params),
        content=operation.content,
        headers=dict(operation.headers),
    )


def finish(operation: Operation[ResultT], response: httpx.Response, attempts: int) -> ResultT:
    """The result of a final answer, or its exception."""
    if response.is_success:
        return operation.parse(response)
    raise error_from_response(response, attempts)


def query(**values: str | int | None) -> dict[str, str | int]:
    """Query parameters without the ones left out."""
    return {name: value for name, value in values.items() if value is not None}
