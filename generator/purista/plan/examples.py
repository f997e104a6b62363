"""Example values for a JSON Schema, used to seed the generated handler tests.

An example is only offered when it validates against its schema; otherwise the
generated test says so and is skipped, rather than testing with bad data.
"""

from __future__ import annotations

import math
import re
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.validators import validator_for

_FORMATS = {
    "email": "user@example.org",
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "12:00:00Z",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "uri": "https://example.org/",
    "hostname": "example.org",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
}
_CANDIDATES = ("example", "EXAMPLE-1", "ABC-123", "abc", "a1", "0", "A", "x" * 8)
_MAX_DEPTH = 12


def example_for(schema: dict[str, Any]) -> Any | None:
    """A value that validates against `schema`, or None if none could be found."""
    try:
        value = _example(schema, schema, 0)
    except _NoExample:
        return None
    cls = validator_for(schema, default=Draft202012Validator)
    return value if cls(schema).is_valid(value) else None


class _NoExample(Exception):  # noqa: N818  (a signal to the caller, not an error)
    pass


def _example(schema: Any, root: dict[str, Any], depth: int) -> Any:  # noqa: PLR0911, PLR0912
    if depth > _MAX_DEPTH or not isinstance(schema, dict):
        raise _NoExample
    if "$ref" in schema:
        return _example(_resolve(schema["$ref"], root), root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for key in ("oneOf", "anyOf"):
        if schema.get(key):
            return _example(schema[key][0], root, depth + 1)
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged.update(part)
        return _example(merged, root, depth + 1)
    kind = schema.get("type", "object" if "properties" in schema else None)
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: _example(props.get(k, {}), root, depth + 1) for k in schema.get("required", [])}
    if kind == "array":
        count = max(schema.get("minItems", 1), 1) if "items" in schema else 0
        item = schema.get("items", {})
        if schema.get("uniqueItems") and count > 1:
            return [_example(_nth(item, i), root, depth + 1) for i in range(count)]
        return [_example(item, root, depth + 1) for _ in range(count)]
    if kind == "string":
        return _string(schema)
    if kind in ("integer", "number"):
        return _number(schema, integer=kind == "integer")
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return "example"


def _nth(item: Any, index: int) -> Any:
    """`item` narrowed so that the `index`-th example differs from the others."""
    if not isinstance(item, dict) or item.get("type") not in ("integer", "number", "string"):
        return item
    if item["type"] == "string":
        return {**item, "const": f"example-{index}"}
    return {**item, "const": item.get("minimum", 0) + index}


def _string(schema: dict[str, Any]) -> str:
    if schema.get("format") in _FORMATS:
        return _FORMATS[schema["format"]]
    low, high = int(schema.get("minLength", 0)), int(schema.get("maxLength", 1_000))
    pattern = schema.get("pattern")
    if pattern is None:
        text = ("example" * (low // 7 + 1))[: max(low, 7)][:high]
        if len(text) < low:
            raise _NoExample
        return text
    natural = [(c, min(max(len(c), low), high)) for c in _CANDIDATES]
    sweep = [(c, n) for c in _CANDIDATES for n in range(max(low, 1), min(high, 64) + 1)]
    for candidate, length in natural + sweep:
        text = (candidate * (length // len(candidate) + 1))[:length]
        if re.search(pattern, text):
            return text
    raise _NoExample


def _number(schema: dict[str, Any], *, integer: bool) -> float | int:
    low = float(max(schema.get("minimum", -math.inf), schema.get("exclusiveMinimum", -math.inf)))
    high = float(min(schema.get("maximum", math.inf), schema.get("exclusiveMaximum", math.inf)))
    open_low, open_high = "exclusiveMinimum" in schema, "exclusiveMaximum" in schema
    step: float | None = schema.get("multipleOf") or (1 if integer else None)

    def fits(value: float) -> bool:
        above = value > low if open_low else value >= low
        below = value < high if open_high else value <= high
        return above and below and (step is None or float(value / step).is_integer())

    if fits(1):
        return 1
    if step is None:
        if math.isinf(low) and math.isinf(high):
            return 1
        if math.isinf(high):
            return low + 1 if open_low else low
        if math.isinf(low):
            return high - 1 if open_high else high
        return (low + high) / 2 if open_low or open_high else low
    start = 1 if math.isinf(low) else math.ceil(low / step)
    value = step * start
    if open_low and value <= low:
        value += step
    if value > high or (open_high and value >= high):
        raise _NoExample
    return int(value) if integer else value


def _resolve(ref: str, root: dict[str, Any]) -> Any:
    if not ref.startswith("#/"):
        raise _NoExample
    node: Any = root
    for part in ref[2:].split("/"):
        node = (
            node.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(node, dict) else None
        )
    if node is None:
        raise _NoExample
    return node
