"""The client's models match the API's OpenAPI document: field names, types and required fields of each body.

Every route the client calls (``gensail._operations.ROUTES``) is looked up in docs/openapi.json and its models are
compared with the document's schemas, nested models included.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from gensail._core import Route
from gensail._operations import ROUTES
from gensail.models import Job, Problem
from pydantic import BaseModel

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
# What a schema says about a body's shape; titles, descriptions, examples and limits are left out.
_SHAPE_KEYS = {"type", "enum", "const", "items", "anyOf", "oneOf", "allOf", "properties", "required"}
_SHAPE_KEYS |= {"additionalProperties", "prefixItems"}


def shape(schema: Any, definitions: dict[str, Any]) -> Any:
    """A schema reduced to field names, types and required fields, with every ``$ref`` resolved in place."""
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return shape(definitions[schema["$ref"].rsplit("/", 1)[-1]], definitions)
    reduced: dict[str, Any] = {}
    for key, value in schema.items():
        if key not in _SHAPE_KEYS:
            continue
        if key == "properties":
            reduced[key] = {name: shape(field, definitions) for name, field in value.items()}
        elif key in {"anyOf", "oneOf", "allOf"}:
            reduced[key] = sorted((shape(option, definitions) for option in value), key=json.dumps)
        elif key in {"items", "additionalProperties"}:
            reduced[key] = shape(value, definitions)
        elif key in {"required", "enum"}:
            reduced[key] = sorted(value)
        elif key == "const":  # one allowed value: pydantic writes a Literal as `const`, Powertools as `enum`
            reduced["enum"] = [value]
        else:
            reduced[key] = value
    return reduced


def model_shape(model: type[BaseModel]) -> Any:
    schema = model.model_json_schema()
    return shape(schema, schema.get("$defs", {}))


def differences(expected: Any, actual: Any, where: str = "") -> list[str]:
    """Each place where the document (``expected``) and the client (``actual``) differ, as a readable line."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        found: list[str] = []
        for key in sorted(set(expected) | set(actual)):
            if key not in actual:
                found.append(f"{where}.{key}: in the document, not in the client")
            elif key not in expected:
                found.append(f"{where}.{key}: in the client, not in the document")
            else:
                found += differences(expected[key], actual[key], f"{where}.{key}")
        return found
    return [] if expected == actual else [f"{where}: document {expected!r}, client {actual!r}"]


def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    return document


def _template(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def _same_route(document_path: str, client_path: str) -> bool:
    """Paths match segment by segment; a parameter matches anything (``{level}`` may be only ``workspaces``)."""
    pairs = list(zip(document_path.split("/"), client_path.split("/"), strict=False))
    parameter = re.compile(r"^\{[^}]*\}$")
    return len(document_path.split("/")) == len(client_path.split("/")) and all(
        ours == theirs or parameter.match(ours) or parameter.match(theirs) for ours, theirs in pairs
    )


def _operation(document: dict[str, Any], route: Route) -> dict[str, Any] | None:
    method = route.method.lower()
    candidates = [path for path, operations in document["paths"].items() if method in operations]
    # An exact template first: /config/{level}/{id} must not take /config/workspaces/{id}/... 's place.
    exact = [path for path in candidates if _template(path) == _template(route.path)]
    loose = [path for path in candidates if _same_route(path, route.path)]
    for path in exact or loose:
        operation: dict[str, Any] = document["paths"][path][method]
        return operation
    return None


def _json_schema(content: dict[str, Any]) -> Any:
    return next(body["schema"] for media, body in content.items() if media.endswith("json"))


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: f"{route.method} {route.path}")
def test_route_models_match_the_document(route: Route) -> None:
    document = _document()
    definitions = document["components"]["schemas"]
    operation = _operation(document, route)
    assert operation is not None, f"the API has no route {route.method} {route.path}"

    answer = _json_schema(operation["responses"][str(route.status)]["content"])
    found = differences(shape(answer, definitions), model_shape(route.response), route.response.__name__)
    if route.request is not None:
        body = _json_schema(operation["requestBody"]["content"])
        found += differences(shape(body, definitions), model_shape(route.request), route.request.__name__)

    assert not found, "\n".join(found)


def test_problem_matches_the_document() -> None:
    definitions = _document()["components"]["schemas"]

    assert not differences(shape(definitions["Problem"], definitions), model_shape(Problem), "Problem")


def test_a_changed_field_is_noticed() -> None:
    # Given the document's Job with one field renamed and one made required
    definitions = json.loads(json.dumps(_document()["components"]["schemas"]))
    job = definitions["Job"]
    job["properties"]["call_seconds"] = job["properties"].pop("duration_seconds")
    job["required"].append("history")

    # Then the comparison names each difference
    found = differences(shape(job, definitions), model_shape(Job), "Job")

    assert "Job.properties.call_seconds: in the document, not in the client" in found
    assert "Job.properties.duration_seconds: in the client, not in the document" in found
    assert any(line.startswith("Job.required") for line in found)
