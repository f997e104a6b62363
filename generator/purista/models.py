"""Stage 5: typed payload models, one module per service, by datamodel-code-generator.

Each module is generated in one batch and cached by the hash of its schemas and
the generator's options, so a spec with hundreds of commands stays fast.
"""

from __future__ import annotations

import hashlib
import json
import re
from importlib.metadata import version
from typing import Any

from purista import cache
from purista.errors import GenerationError
from purista.plan import Plan
from purista.render import GENERATED_HEADER
from purista.spec import pointer
from purista.spec.names import ClassName

_OPTIONS: dict[str, Any] = {
    "input_file_type": "jsonschema",
    "output_model_type": "pydantic_v2.BaseModel",
    "target_python_version": "3.11",
    "use_annotated": True,
    "field_constraints": True,
    "snake_case_field": True,
    "allow_population_by_field_name": True,
    "use_standard_collections": True,
    "use_union_operator": True,
    "use_schema_description": True,
    # A property's description as `Field(description=...)`, a string literal that keeps
    # every character; as a docstring, trailing spaces broke the project's ruff check.
    "use_field_description": False,
    "disable_timestamp": True,
    "use_double_quotes": True,
    # Nested models are named after their parent (`PlaceOrderPayloadItem`), so adding
    # or removing a command never renames another command's classes.
    "parent_scoped_naming": True,
    "formatters": [],
}
_DCG_VERSION = version("datamodel-code-generator")
_ROOT_MODEL = re.compile(r"^class Model\(RootModel\[Any\]\):\n    root: Any\n", re.MULTILINE)
_DCG_HEADER = re.compile(r"\A(#[^\n]*\n)+")
_CLASS = re.compile(r"^class (\w+)\(", re.MULTILINE)


def models(plan: Plan) -> dict[str, str]:
    """Every model module of the project, by path."""
    out: dict[str, str] = {}
    events = [(e.class_name, e.schema) for e in plan.events]
    out[f"src/{plan.project.package}/events.py"] = _module(events, "Event payloads.")
    for svc in plan.services:
        doc = f"Payloads and outputs of service {svc.name} v{svc.version}."
        out[f"{svc.path}/_generated/models.py"] = _module(list(svc.models), doc)
    return out


def _module(defs: list[tuple[str, str]], doc: str) -> str:
    body = _generate(defs) if defs else ""
    return f'{GENERATED_HEADER}"""{doc}"""\n\n{body}'


def _generate(defs: list[tuple[str, str]]) -> str:
    scoped: dict[str, Any] = {}
    owners = {name for name, _ in defs}
    for name, schema in defs:
        for cls, definition in _scope(name, json.loads(schema)).items():
            if cls in scoped or (cls != name and cls in owners):
                raise GenerationError(
                    f"a class of `{name}` (from its `$defs` or an `allOf`) would be named "
                    f"`{cls}`, as another payload, output or event is; rename it"
                )
            scoped[cls] = definition
    root = {"$defs": scoped}
    text = json.dumps(root)
    settings = json.dumps(_OPTIONS, sort_keys=True, default=str)
    key = hashlib.sha256(f"{_DCG_VERSION}\n{settings}\n{text}".encode()).hexdigest()
    cached = cache.get("models", key)
    if cached is not None:
        return cached
    import datamodel_code_generator as dcg  # noqa: PLC0415  (slow to import; only on a cache miss)

    try:
        code = dcg.generate(text, **_OPTIONS)
    except Exception as exc:
        raise GenerationError(
            f"datamodel-code-generator failed on {', '.join(n for n, _ in defs)}: {exc}"
        ) from exc
    if not isinstance(code, str):
        raise GenerationError("datamodel-code-generator returned no code")
    code = _ROOT_MODEL.sub("", _DCG_HEADER.sub("", code)).strip() + "\n"
    _check_names(code, [name for name, _ in defs])
    cache.put("models", key, code)
    return code


def _check_names(code: str, owners: list[str]) -> None:
    """Each owner has its class, and every other class carries its owner's name in front."""
    classes = set(_CLASS.findall(code))
    for owner in owners:
        if owner not in classes:
            raise GenerationError(f"no model class `{owner}` was generated")
    for cls in sorted(classes):
        prefix = max((o for o in owners if cls.startswith(o)), key=len, default=None)
        if prefix is None or (cls != prefix and cls[len(prefix) :].isdigit()):
            raise GenerationError(
                f"the model class `{cls}` is not named after one payload, output or event; "
                "rename the `$defs` entry or property it comes from"
            )


def _scope(owner: str, schema: Any) -> dict[str, Any]:
    """`schema` as top-level definitions, each class named after `owner`.

    The schema goes under `#/$defs/<owner>`; each of its `$defs` (at any depth) under
    `#/$defs/<owner><Def>`, and each schema with an `allOf` inside it under a name
    built from its place (`<owner><Property>`): datamodel-code-generator would name
    those after the `$defs` key or the property alone, so that one command's classes
    could take the name another command needs, or change when another command goes.
    """
    hoisted: dict[str, Any] = {}
    homes: dict[tuple[str, ...], str] = {(): owner}
    _hoist_defs(schema, (), owner, homes, hoisted)
    raw = {owner: schema, **hoisted}
    out = {name: _point(definition, homes, raw) for name, definition in raw.items()}
    for name in list(out):
        out[name] = _hoist_all_of(out[name], name, out, top=True)
    return out


def _hoist_defs(
    schema: Any,
    pointer: tuple[str, ...],
    name: str,
    homes: dict[tuple[str, ...], str],
    hoisted: dict[str, Any],
) -> None:
    """Move the `$defs` (and `definitions`) of `schema` out, recording where each went."""
    if not isinstance(schema, dict):
        return
    for key in ("$defs", "definitions"):
        defs = schema.get(key)
        if not isinstance(defs, dict):
            continue
        del schema[key]
        for i, (def_name, definition) in enumerate(defs.items()):
            try:
                def_class = name + ClassName(str(def_name))
            except ValueError:
                def_class = f"{name}Def{i}"
            while def_class in hoisted or def_class == name:
                def_class += "Def"
            homes[(*pointer, key, str(def_name))] = def_class
            hoisted[def_class] = definition
            _hoist_defs(definition, (*pointer, key, str(def_name)), def_class, homes, hoisted)


def _point(
    schema: Any,
    homes: dict[tuple[str, ...], str],
    raw: dict[str, Any],
    inlining: frozenset[str] = frozenset(),
) -> Any:
    """Every internal `$ref` of `schema` pointed at the definition it names now.

    A `$ref` into the middle of a schema (`#/properties/id`) is replaced by a copy of
    what it points at, so its class is named after the field that uses it.
    """
    if isinstance(schema, list):
        return [_point(item, homes, raw, inlining) for item in schema]
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if not (isinstance(ref, str) and ref.startswith("#")):
        return {k: _point(v, homes, raw, inlining) for k, v in schema.items()}
    keys = pointer.parts(ref[1:])
    depth = max(n for n in range(len(keys) + 1) if keys[:n] in homes)
    home = homes[keys[:depth]]
    found = pointer.walk(raw[home], keys[depth:])
    target = None if found is None else found[0]
    if depth < len(keys) and isinstance(target, dict) and ref not in inlining:
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        return _point({**target, **siblings}, homes, raw, inlining | {ref})
    out = {k: _point(v, homes, raw, inlining) for k, v in schema.items()}
    out["$ref"] = f"#/$defs/{home}{pointer.text(keys[depth:])}"
    return out


# Kept beside a `$ref` to a hoisted schema: they describe the field, not its type.
_ANNOTATIONS = ("title", "description", "default", "examples", "deprecated", "readOnly")


def _hoist_all_of(schema: Any, name: str, out: dict[str, Any], *, top: bool = False) -> Any:
    """Move each schema with an `allOf` below the top into `out`, named `name` plus its place."""
    if isinstance(schema, list):
        return [_hoist_all_of(item, f"{name}{i}", out) for i, item in enumerate(schema)]
    if not isinstance(schema, dict):
        return schema
    inner: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "patternProperties") and isinstance(value, dict):
            inner[key] = {
                prop: _hoist_all_of(sub, name + _part(str(prop), i), out)
                for i, (prop, sub) in enumerate(value.items())
            }
        elif key in ("items", "additionalProperties", "anyOf", "oneOf", "allOf"):
            suffix = {"items": "Item", "additionalProperties": "Value"}.get(key, "")
            inner[key] = _hoist_all_of(value, name + suffix, out)
        else:
            inner[key] = value
    if top or "allOf" not in inner:
        return inner
    while name in out:
        name += "Part"
    out[name] = {k: v for k, v in inner.items() if k not in _ANNOTATIONS or k == "title"}
    kept = {k: v for k, v in inner.items() if k in _ANNOTATIONS and k != "title"}
    return {"$ref": f"#/$defs/{name}", **kept}


def _part(prop: str, index: int) -> str:
    try:
        return ClassName(prop)
    except ValueError:
        return f"Field{index}"
