"""How the local gateway picks a route for a request and evaluates an authorizer's policy, as API Gateway does."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from infra.local.template import Route


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    path_parameters: dict[str, str]


def match_route(routes: Iterable[Route], method: str, path: str) -> RouteMatch | None:
    """The most specific route for a request, as API Gateway picks it: static parts before ``{param}``
    before ``{proxy+}``, and an exact method before ``ANY``."""
    segments = [part for part in path.split("/") if part]
    best: tuple[tuple[int, ...], RouteMatch] | None = None
    for route in routes:
        if route.method not in (method, "ANY"):
            continue
        parameters = _match_segments(route.segments, segments)
        if parameters is None:
            continue
        rank = (*(_segment_rank(part) for part in route.segments), 1 if route.method == "ANY" else 0)
        if best is None or rank < best[0]:
            best = (rank, RouteMatch(route, parameters))
    return best[1] if best else None


def _segment_rank(part: str) -> int:
    if part.endswith("+}"):
        return 2
    return 1 if part.startswith("{") else 0


def _match_segments(template: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
    parameters: dict[str, str] = {}
    for index, part in enumerate(template):
        if part.startswith("{") and part.endswith("+}"):
            if index >= len(segments):
                return None
            parameters[part[1:-2]] = "/".join(segments[index:])
            return parameters
        if index >= len(segments):
            return None
        if part.startswith("{") and part.endswith("}"):
            parameters[part[1:-1]] = segments[index]
        elif part != segments[index]:
            return None
    return parameters if len(template) == len(segments) else None


def policy_allows(policy: Mapping[str, Any], method_arn: str) -> bool:
    """IAM evaluation of an authorizer's policy for ``execute-api:Invoke`` on one method: deny wins."""
    statements = policy.get("Statement", [])
    allowed = False
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = _as_list(statement.get("Action"))
        resources = _as_list(statement.get("Resource"))
        if not any(fnmatch.fnmatchcase("execute-api:Invoke", action) for action in actions):
            continue
        if not any(fnmatch.fnmatchcase(method_arn, resource) for resource in resources):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]
