"""The API's routes, read from the one OpenAPI document, and how the local gateway picks one for a request.

The stack builds its API Gateway methods from the same document (:mod:`infra.api`): every operation is a method
proxied to the API function, behind the authorizer unless its effective ``security`` is empty, and a path answers
the methods it has no operation for with 405 and ``Allow``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch"})


@dataclass(frozen=True)
class Route:
    """One operation: an HTTP method on a resource path such as ``/api/v1/jobs/{job_id}``."""

    method: str  # upper case
    path: str
    public: bool

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(part for part in self.path.split("/") if part)


@dataclass(frozen=True)
class RouteMatch:
    """The resource a request's path names: its route for the request's method (None: 405) and its methods."""

    path: str
    route: Route | None
    allowed: tuple[str, ...]
    path_parameters: dict[str, str]


def openapi_routes(document: Mapping[str, Any]) -> tuple[Route, ...]:
    """Every operation of an OpenAPI document; public when its effective ``security`` is empty."""
    default_security = document.get("security", [])
    return tuple(
        Route(method.upper(), path, operation.get("security", default_security) == [])
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in _HTTP_METHODS
    )


def match_route(routes: Iterable[Route], method: str, path: str) -> RouteMatch | None:
    """The most specific resource for a path, as API Gateway picks it (static parts before ``{param}``), then
    its route for ``method``; None when no resource matches."""
    segments = [part for part in path.split("/") if part]
    by_path: dict[str, list[Route]] = {}
    for route in routes:
        by_path.setdefault(route.path, []).append(route)
    best: tuple[tuple[int, ...], str, dict[str, str]] | None = None
    for resource, candidates in by_path.items():
        template = candidates[0].segments
        parameters = _match_segments(template, segments)
        if parameters is not None:
            rank = tuple(1 if part.startswith("{") else 0 for part in template)
            if best is None or rank < best[0]:
                best = (rank, resource, parameters)
    if best is None:
        return None
    _, resource, parameters = best
    candidates = by_path[resource]
    chosen = next((candidate for candidate in candidates if candidate.method == method), None)
    return RouteMatch(resource, chosen, tuple(sorted(candidate.method for candidate in candidates)), parameters)


def _match_segments(template: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
    if len(template) != len(segments):
        return None
    parameters: dict[str, str] = {}
    for part, segment in zip(template, segments, strict=True):
        if part.startswith("{") and part.endswith("}"):
            parameters[part[1:-1]] = segment
        elif part != segment:
            return None
    return parameters
