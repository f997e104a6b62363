"""How two JSON Schemas differ, keyword by keyword: what narrows, what widens, what cannot be told.

`purista diff` turns these effects into breaking or compatible by who reads the
message (tests/test_diff.py); here is each keyword's effect on its own.
"""

from __future__ import annotations

from typing import Any

import pytest
from purista.schema_diff import compare

NODE = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "kids": {"type": "array", "items": {"$ref": "#"}}},
}

CASES: dict[str, tuple[Any, Any, list[tuple[tuple[str | int, ...], str, str]]]] = {
    "null no longer allowed": (
        {"type": ["string", "null"]}, {"type": "string"},
        [(("type",), "narrows", "type narrowed from `null` or `string` to `string`")],
    ),
    "integer is a number": (
        {"type": "integer"}, {"type": ["number"]},
        [(("type",), "widens", "type widened from `integer` to `number`")],
    ),
    "a type where there was none": (
        {}, {"type": "string"},
        [(("type",), "narrows", "type narrowed from any type to `string`")],
    ),
    "const to enum": (
        {"const": "a"}, {"enum": ["a", "b"]},
        [(("enum",), "widens", 'value `"b"` now allowed')],
    ),
    "enum added": (
        {"type": "string"}, {"type": "string", "enum": ["a"]},
        [(("enum",), "narrows", 'now limited to value `"a"`')],
    ),
    "format added": (
        {"type": "string"}, {"type": "string", "format": "email"},
        [(("format",), "narrows", '`format` "email" added')],
    ),
    "pattern removed": (
        {"type": "string", "pattern": "^a"}, {"type": "string"},
        [(("pattern",), "widens", '`pattern` "^a" removed')],
    ),
    "uniqueItems added": (
        {"type": "array"}, {"type": "array", "uniqueItems": True},
        [(("uniqueItems",), "narrows", "`uniqueItems` true added")],
    ),
    "multipleOf of a multiple": (
        {"multipleOf": 2}, {"multipleOf": 4},
        [(("multipleOf",), "narrows", "`multipleOf` changed from 2 to 4")],
    ),
    "multipleOf of a divisor": (
        {"multipleOf": 4}, {"multipleOf": 2},
        [(("multipleOf",), "widens", "`multipleOf` changed from 4 to 2")],
    ),
    "minLength lowered": (
        {"minLength": 3}, {"minLength": 1},
        [(("minLength",), "widens", "`minLength` lowered from 3 to 1")],
    ),
    "maximum removed": (
        {"maximum": 3}, {},
        [(("maximum",), "widens", "`maximum` 3 removed")],
    ),
    "additionalProperties closed": (
        {"type": "object"}, {"type": "object", "additionalProperties": False},
        [(("additionalProperties",), "narrows",
          "`additionalProperties` changed from true to false")],
    ),
    "additionalProperties schema narrowed": (
        {"additionalProperties": {"type": "number"}},
        {"additionalProperties": {"type": "integer"}},
        [(("additionalProperties", "type"), "narrows",
          "type narrowed from `number` to `integer`")],
    ),
    "anyOf option removed": (
        {"anyOf": [{"type": "string"}, {"type": "integer"}]}, {"anyOf": [{"type": "string"}]},
        [(("anyOf",), "narrows", "1 option of `anyOf` removed")],
    ),
    "allOf part added": (
        {"allOf": [{"type": "string"}]}, {"allOf": [{"type": "string"}, {"minLength": 1}]},
        [(("allOf",), "narrows", "1 option of `allOf` added")],
    ),
    "a keyword that cannot be weighed": (
        {"not": {"type": "string"}}, {"not": {"type": "integer"}},
        [(("not",), "changes", "`not` changed")],
    ),
    "false schema": (
        {"properties": {"a": True}}, {"properties": {"a": False}},
        [(("properties", "a", "not"), "changes", "`not` changed")],
    ),
    "items removed": (
        {"type": "array", "items": {"type": "string"}}, {"type": "array"},
        [(("items",), "widens", "`items` removed")],
    ),
    "a recursive schema changed deep down": (
        NODE,
        {**NODE, "properties": {**NODE["properties"], "name": {"type": "string", "maxLength": 9}}},
        [(("properties", "name", "maxLength"), "narrows", "`maxLength` 9 added")],
    ),
    "documentation only": (
        {"type": "string", "description": "a"}, {"type": "string", "description": "b",
                                                 "examples": ["x"]},
        [(("description",), "none", "documentation (`description`) changed"),
         (("examples",), "none", "documentation (`examples`) changed")],
    ),
    "a reference to the same schema is no change": (
        {"properties": {"a": {"type": "string"}}},
        {"properties": {"a": {"$ref": "#/$defs/A"}}, "$defs": {"A": {"type": "string"}}},
        [],
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", CASES)
def test_schema_change(name: str) -> None:
    old, new, expected = CASES[name]
    assert [(c.path, c.effect, c.message) for c in compare(old, new)] == expected
