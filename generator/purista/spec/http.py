"""Routes of the HTTP gateway: path parameters, path shapes and the types of URL fields."""

from __future__ import annotations

from typing import Any

from purista.spec import pointer

SCALARS = ("string", "integer", "number", "boolean")


def path_params(path: str) -> list[str]:
    """The `{param}` names of a route's path, in order."""
    return [seg[1:-1] for seg in path.split("/") if seg.startswith("{") and seg.endswith("}")]


def path_shape(path: str) -> str:
    """A route's path with every parameter as `{}`: two routes of one shape collide."""
    return "/".join("{}" if seg.startswith("{") else seg for seg in path.split("/"))


def resolve(node: Any, root: Any) -> dict[str, Any]:
    """A (sub)schema with its local `$ref`s followed (a few levels at most)."""
    for _ in range(20):
        ref = node.get("$ref") if isinstance(node, dict) else None
        if not (isinstance(ref, str) and ref.startswith("#")):
            break
        parts = (pointer.unescape(p) for p in ref[1:].split("/") if p)
        found = pointer.walk(root, parts)
        if found is None:
            break
        node = found[0]
    return node if isinstance(node, dict) else {}


def scalar_kind(schema: Any, root: Any) -> str | None:
    """The JSON type of a schema that allows one scalar type (and perhaps null), else None."""
    node = resolve(schema, root)
    if any(k in node for k in ("allOf", "anyOf", "oneOf")):
        return None
    kind = node.get("type")
    if kind is None and "enum" in node:
        found = {_json_type(v) for v in node["enum"] if v is not None}
        return found.pop() if len(found) == 1 and found <= set(SCALARS) else None
    kinds = [k for k in (kind if isinstance(kind, list) else [kind]) if k != "null"]
    if len(kinds) == 1 and kinds[0] in SCALARS:
        return str(kinds[0])
    if set(kinds) == {"integer", "number"}:
        return "number"
    return None


def url_field(schema: Any, root: Any) -> tuple[str, bool] | None:
    """How a property stands in a URL: its scalar type and whether it is an array, or None."""
    kind = scalar_kind(schema, root)
    if kind is not None:
        return kind, False
    node = resolve(schema, root)
    kinds = node.get("type")
    kinds = [k for k in (kinds if isinstance(kinds, list) else [kinds]) if k != "null"]
    if kinds == ["array"] and isinstance(node.get("items"), dict):
        inner = scalar_kind(node["items"], root)
        if inner is not None:
            return inner, True
    return None


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "other"
