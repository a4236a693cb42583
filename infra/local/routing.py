"""The API's routes, read from the OpenAPI document the stack builds its methods from (:mod:`infra.api`), and
how the local gateway picks one for a request."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from werkzeug.exceptions import NotFound
from werkzeug.routing import Map, Rule

_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch"})


@dataclass(frozen=True)
class Route:
    """One operation: an HTTP method on a resource path such as ``/api/v1/jobs/{job_id}``."""

    method: str  # upper case
    path: str
    public: bool


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
    """The resource a path names, as API Gateway picks it (static parts before ``{param}``: werkzeug's routing
    ranks rules the same way), then its route for ``method``; None when no resource matches."""
    routes = tuple(routes)
    try:
        resource, parameters = _resources(routes).bind("local").match(path)
    except NotFound:
        return None
    candidates = [route for route in routes if route.path == resource]
    chosen = next((candidate for candidate in candidates if candidate.method == method), None)
    allowed = tuple(sorted(candidate.method for candidate in candidates))
    return RouteMatch(resource, chosen, allowed, {name: str(value) for name, value in parameters.items()})


@functools.cache
def _resources(routes: tuple[Route, ...]) -> Map:
    """One rule per resource path, for any method (405 is the gateway's answer, not werkzeug's)."""
    paths = dict.fromkeys(route.path for route in routes)
    rules = [Rule(re.sub(r"\{(\w+)\}", r"<\1>", path), endpoint=path) for path in paths]
    return Map(rules, strict_slashes=False, merge_slashes=False)
