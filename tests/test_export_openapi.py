"""`purista export openapi`: the gateway's OpenAPI 3.1 document from the spec alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from openapi_spec_validator import validate
from support import EXAMPLES, ROOT, purista

GATEWAY_SPEC = ROOT / "tests" / "specs" / "gateway.yaml"


def export(spec: Path, *extra: str) -> dict[str, Any]:
    result = purista("export", "openapi", "--spec", str(spec), *extra)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_the_document_is_valid_and_lists_every_route_with_its_errors() -> None:
    document = export(GATEWAY_SPEC)
    validate(document)
    assert document["openapi"] == "3.1.0"
    paths = document["paths"]
    assert set(paths) == {
        "/echo", "/items/{itemId}", "/notes/{noteId}", "/fail", "/slow", "/builds",
        "/jobs/{jobId}", "/healthz", "/readyz",
    }  # fmt: skip
    get_item = paths["/items/{itemId}"]["get"]
    assert get_item["operationId"] == "front.v1.getItem"
    params = {(p["in"], p["name"]): p for p in get_item["parameters"]}
    assert params["path", "itemId"]["schema"] == {"type": "integer"}
    assert params["query", "tags"]["schema"] == {"type": "array", "items": {"type": "string"}}
    assert params["query", "verbose"]["required"] is False
    assert "requestBody" not in get_item
    assert set(get_item["responses"]) == {"200", "401", "403", "422", "502", "503", "504"}
    # A PUT with a path parameter: the body is the payload without it.
    put = paths["/notes/{noteId}"]["put"]
    body = put["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][body.rsplit("/", 1)[1]]
    assert set(schema["properties"]) == {"text"} and schema["required"] == ["text"]
    problem = document["components"]["responses"]["UnprocessableContent"]["content"]
    assert problem["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}


def test_references_inside_a_schema_point_into_its_component(tmp_path: Path) -> None:
    spec = tmp_path / "purista.yaml"
    spec.write_text(
        """
spec_version: 1
project: {name: refs}
services:
  shop:
    commands:
      order:
        http: {method: POST, path: /orders}
        payload:
          type: object
          $defs:
            line: {type: object, properties: {sku: {type: string}}, required: [sku]}
          properties:
            lines: {type: array, items: {$ref: "#/$defs/line"}}
"""
    )
    document = export(spec)
    validate(document)
    payload = document["components"]["schemas"]["ShopV1OrderPayload"]
    items = payload["properties"]["lines"]["items"]
    assert items == {"$ref": "#/components/schemas/ShopV1OrderPayload/$defs/line"}


def test_output_file_and_bad_kind(tmp_path: Path) -> None:
    out = tmp_path / "openapi.json"
    result = purista("export", "openapi", "--spec", str(GATEWAY_SPEC), "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text()) == export(GATEWAY_SPEC)
    wrong = purista("export", "swagger", "--spec", str(GATEWAY_SPEC))
    assert wrong.returncode == 2
    assert "openapi" in wrong.stderr


def test_a_spec_without_routes_has_only_the_gateways_own() -> None:
    document = export(EXAMPLES / "minimal.yaml")
    validate(document)
    assert set(document["paths"]) == {"/jobs/{jobId}", "/healthz", "/readyz"}
