"""How a JSON Schema changed: each difference, and whether it narrows or widens what is valid.

Schemas are compared after their `#/...` references are followed (file `$ref`s were
inlined when the spec was validated), so where a schema is written changes nothing.
Whether a narrowing or a widening breaks anyone depends on who writes and who reads
the message; `purista.diff` decides that.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from purista.load import Path_
from purista.spec import pointer

__all__ = ["Effect", "SchemaChange", "compare"]

#: `narrows`: the new schema accepts less than the old; `widens`: more; `changes`: it
#: cannot be told (or both); `none`: what is valid is the same (documentation, a new
#: optional field).
Effect = Literal["narrows", "widens", "changes", "none"]

LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties",
                "minContains")  # fmt: skip
UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties",
                "maxContains")  # fmt: skip
#: Restrictions that narrow when added and widen when removed.
RESTRICTIONS = ("pattern", "format", "uniqueItems")
DOCUMENTATION = ("title", "description", "examples", "example", "default", "$comment",
                 "deprecated", "readOnly", "writeOnly")  # fmt: skip
#: Keys that are not rules themselves: identifiers and the definitions references reach.
STRUCTURE = ("$schema", "$id", "$anchor", "$dynamicAnchor", "$defs", "definitions", "$ref")
_HANDLED = frozenset((
    "type", "enum", "const", "multipleOf", "properties", "required", "additionalProperties",
    "items", "anyOf", "oneOf", "allOf", *LOWER_BOUNDS, *UPPER_BOUNDS, *RESTRICTIONS,
    *DOCUMENTATION, *STRUCTURE,
))  # fmt: skip


@dataclass(frozen=True)
class SchemaChange:
    """One difference between two schemas, at its path inside the schema."""

    path: Path_
    effect: Effect
    message: str


def compare(old: Any, new: Any) -> list[SchemaChange]:
    """Every difference from `old` to `new` (both whole schemas, roots of their `#` pointers)."""
    walk = _Walk(old, new)
    walk.node(old, new, (), frozenset(), frozenset())
    return walk.changes


class _Walk:
    def __init__(self, old_root: Any, new_root: Any) -> None:
        self.roots = (old_root, new_root)
        self.changes: list[SchemaChange] = []
        # Pairs of `#...` references compared already: a schema used twice (or recursively)
        # is compared, and its changes reported, once.
        self.compared = {("#", "#")}

    def add(self, path: Path_, effect: Effect, message: str) -> None:
        self.changes.append(SchemaChange(path, effect, message))

    def node(
        self, old: Any, new: Any, path: Path_, old_seen: frozenset[str], new_seen: frozenset[str]
    ) -> None:
        pair = (_local_ref(old), _local_ref(new))
        if pair[0] is not None and pair[1] is not None:
            if pair in self.compared:
                return
            self.compared.add((pair[0], pair[1]))
        old, old_seen = _follow(_as_object(old), self.roots[0], old_seen)
        new, new_seen = _follow(_as_object(new), self.roots[1], new_seen)
        if old == new and not _has_ref(old):
            return
        if not isinstance(old, dict) or not isinstance(new, dict):
            self.add(path, "changes", "schema changed")
            return
        if "$ref" in old or "$ref" in new:  # a recursive schema, followed once on this path
            if old.get("$ref") != new.get("$ref"):
                self.add(path, "changes", "recursive schema changed")
            return
        seen = (old_seen, new_seen)
        self._type(old, new, path)
        self._values(old, new, path)
        self._bounds(old, new, path)
        self._restrictions(old, new, path)
        self._object(old, new, path, seen)
        self._items(old, new, path, seen)
        self._options(old, new, path)
        for key in sorted((old.keys() | new.keys()) - _HANDLED):
            if old.get(key) != new.get(key):
                self.add((*path, key), "changes", f"`{key}` changed")
        for key in DOCUMENTATION:
            if old.get(key) != new.get(key):
                what = "default value" if key == "default" else f"documentation (`{key}`)"
                self.add((*path, key), "none", f"{what} changed")

    def _type(self, old: dict[str, Any], new: dict[str, Any], path: Path_) -> None:
        before, after = _types(old), _types(new)
        lost = _uncovered(before, after)
        gained = _uncovered(after, before)
        if not lost and not gained:
            return
        effect: Effect = "changes" if lost and gained else "narrows" if lost else "widens"
        verb = {"changes": "changed", "narrows": "narrowed", "widens": "widened"}[effect]
        message = f"type {verb} from {_type_text(before)} to {_type_text(after)}"
        self.add((*path, "type"), effect, message)

    def _values(self, old: dict[str, Any], new: dict[str, Any], path: Path_) -> None:
        before, after = _allowed(old), _allowed(new)
        if before == after:
            return
        key = "enum" if "enum" in new or ("const" not in new and "enum" in old) else "const"
        at = (*path, key)
        if after is None:
            self.add(at, "widens", "no longer limited to a list of values")
        elif before is None:
            self.add(at, "narrows", f"now limited to {_values_text(after)}")
        else:
            if before - after:
                self.add(at, "narrows", f"{_values_text(before - after)} no longer allowed")
            if after - before:
                self.add(at, "widens", f"{_values_text(after - before)} now allowed")

    def _bounds(self, old: dict[str, Any], new: dict[str, Any], path: Path_) -> None:
        for key in LOWER_BOUNDS + UPPER_BOUNDS:
            a, b = old.get(key), new.get(key)
            if a == b:
                continue
            upper = key in UPPER_BOUNDS
            if not all(v is None or _number(v) for v in (a, b)):
                self.add((*path, key), "changes", f"`{key}` changed")
            elif b is None:
                self.add((*path, key), "widens", f"`{key}` {a} removed")
            elif a is None:
                self.add((*path, key), "narrows", f"`{key}` {b} added")
            elif (b < a) == upper:
                verb = "lowered" if upper else "raised"
                self.add((*path, key), "narrows", f"`{key}` {verb} from {a} to {b}")
            else:
                verb = "raised" if upper else "lowered"
                self.add((*path, key), "widens", f"`{key}` {verb} from {a} to {b}")
        self._multiple(old.get("multipleOf"), new.get("multipleOf"), path)

    def _multiple(self, a: Any, b: Any, path: Path_) -> None:
        if a != b:
            at = (*path, "multipleOf")
            if b is None:
                self.add(at, "widens", f"`multipleOf` {a} removed")
            elif a is None:
                self.add(at, "narrows", f"`multipleOf` {b} added")
            elif _number(a) and _number(b) and b % a == 0:
                self.add(at, "narrows", f"`multipleOf` changed from {a} to {b}")
            elif _number(a) and _number(b) and a % b == 0:
                self.add(at, "widens", f"`multipleOf` changed from {a} to {b}")
            else:
                self.add(at, "changes", f"`multipleOf` changed from {a} to {b}")

    def _restrictions(self, old: dict[str, Any], new: dict[str, Any], path: Path_) -> None:
        for key in RESTRICTIONS:
            a, b = old.get(key, False if key == "uniqueItems" else None), new.get(key)
            if key == "uniqueItems":
                b = bool(b)
            if a == b:
                continue
            if b is None or b is False:
                self.add((*path, key), "widens", f"`{key}` {_json(a)} removed")
            elif a is None or a is False:
                self.add((*path, key), "narrows", f"`{key}` {_json(b)} added")
            else:
                self.add((*path, key), "changes", f"`{key}` changed from {_json(a)} to {_json(b)}")

    def _object(
        self,
        old: dict[str, Any],
        new: dict[str, Any],
        path: Path_,
        seen: tuple[frozenset[str], frozenset[str]],
    ) -> None:
        before, after = _mapping(old.get("properties")), _mapping(new.get("properties"))
        required = (set(old.get("required") or ()), set(new.get("required") or ()))
        for name in sorted(before.keys() | after.keys()):
            at = (*path, "properties", name)
            if name in before and name in after:
                self.node(before[name], after[name], at, *seen)
            elif name in before:
                if _closed(new):  # senders of it are refused, readers of it get nothing
                    message = f"field `{name}` removed while `additionalProperties` is false"
                    self.add(at, "changes", message)
                else:
                    self.add(at, "widens", f"field `{name}` removed")
            elif name not in required[1]:
                self.add(at, "widens" if _closed(old) else "none", f"new optional field `{name}`")
        for name in sorted(required[1] - required[0]):
            new_field = name not in before and name in after
            message = f"new required field `{name}`" if new_field else f"`{name}` now required"
            self.add((*path, "properties", name), "narrows", message)
        for name in sorted(required[0] - required[1]):
            if name in after or name not in before:  # a removed field is reported as removed
                self.add((*path, "required"), "widens", f"`{name}` no longer required")
        self._additional(old, new, path, seen)

    def _additional(
        self,
        old: dict[str, Any],
        new: dict[str, Any],
        path: Path_,
        seen: tuple[frozenset[str], frozenset[str]],
    ) -> None:
        a, b = old.get("additionalProperties", True), new.get("additionalProperties", True)
        at = (*path, "additionalProperties")
        if a == b:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            self.node(a, b, at, *seen)
        elif b is True or a is False:
            self.add(at, "widens", f"`additionalProperties` changed from {_json(a)} to {_json(b)}")
        else:
            self.add(at, "narrows", f"`additionalProperties` changed from {_json(a)} to {_json(b)}")

    def _items(
        self,
        old: dict[str, Any],
        new: dict[str, Any],
        path: Path_,
        seen: tuple[frozenset[str], frozenset[str]],
    ) -> None:
        a, b = old.get("items"), new.get("items")
        if a == b and not _has_ref(a):
            return
        if isinstance(a, dict | bool) and isinstance(b, dict | bool):
            self.node(a, b, (*path, "items"), *seen)
        elif b is None:
            self.add((*path, "items"), "widens", "`items` removed")
        elif a is None:
            self.add((*path, "items"), "narrows", "`items` added")
        else:
            self.add((*path, "items"), "changes", "`items` changed")

    def _options(self, old: dict[str, Any], new: dict[str, Any], path: Path_) -> None:
        for key in ("anyOf", "oneOf", "allOf"):
            before = {_json(s) for s in old.get(key) or ()}
            after = {_json(s) for s in new.get(key) or ()}
            if before == after:
                continue
            fewer: Effect = "narrows" if key != "allOf" else "widens"
            more: Effect = "widens" if key != "allOf" else "narrows"
            if before - after:
                count = len(before - after)
                self.add((*path, key), fewer, f"{_count(count, 'option')} of `{key}` removed")
            if after - before:
                count = len(after - before)
                self.add((*path, key), more, f"{_count(count, 'option')} of `{key}` added")


def _as_object(schema: Any) -> Any:
    """A boolean schema as the object schema that means the same."""
    if schema is True:
        return {}
    if schema is False:
        return {"not": {}}
    return schema


def _follow(node: Any, root: Any, seen: frozenset[str]) -> tuple[Any, frozenset[str]]:
    """`node` with its `#/...` reference replaced by what it names (once per path)."""
    while isinstance(node, dict):
        ref = node.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#") or ref in seen:
            break
        found = pointer.walk(root, pointer.parts(ref[1:]))
        if found is None:
            break
        seen = seen | {ref}
        target = _as_object(found[0])
        rest = {k: v for k, v in node.items() if k != "$ref"}
        node = {**target, **rest} if isinstance(target, dict) else target
    return node, seen


def _local_ref(node: Any) -> str | None:
    """The `#...` reference `node` is, if it is one."""
    ref = node.get("$ref") if isinstance(node, dict) else None
    return ref if isinstance(ref, str) and ref.startswith("#") else None


def _has_ref(node: Any) -> bool:
    if isinstance(node, dict):
        return "$ref" in node or any(_has_ref(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_ref(v) for v in node)
    return False


def _types(schema: dict[str, Any]) -> frozenset[str] | None:
    """The JSON types a schema allows (None: any)."""
    kind = schema.get("type")
    if kind is None:
        return None
    return frozenset([kind] if isinstance(kind, str) else kind)


def _uncovered(these: frozenset[str] | None, by: frozenset[str] | None) -> frozenset[str]:
    """The types of `these` that `by` does not allow (`integer` is a `number`)."""
    if by is None:
        return frozenset()
    if these is None:
        return frozenset({"any"})
    return frozenset(t for t in these if t not in by and not (t == "integer" and "number" in by))


def _type_text(types: frozenset[str] | None) -> str:
    return "any type" if types is None else " or ".join(f"`{t}`" for t in sorted(types))


def _allowed(schema: dict[str, Any]) -> frozenset[str] | None:
    """The values an `enum` or `const` allows, as JSON (None: not limited)."""
    if "enum" in schema and isinstance(schema["enum"], list):
        return frozenset(_json(v) for v in schema["enum"])
    if "const" in schema:
        return frozenset([_json(schema["const"])])
    return None


def _values_text(values: frozenset[str]) -> str:
    listed = ", ".join(f"`{v}`" for v in sorted(values))
    return f"value {listed}" if len(values) == 1 else f"values {listed}"


def _closed(schema: dict[str, Any]) -> bool:
    """Whether fields the schema does not name are refused."""
    return (
        schema.get("additionalProperties") is False or schema.get("unevaluatedProperties") is False
    )


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)
