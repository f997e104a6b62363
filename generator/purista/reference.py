"""The spec reference in Markdown, generated from the spec's JSON Schema.

`docs/reference/spec.md` is this module's output; `python -m purista.reference FILE`
writes it again (without FILE it prints it), and a test fails while the file differs
from what the models say. Keys, types, defaults and descriptions come from the models
(`purista schema`), examples from the built-in shop example.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from purista.examples import example_path
from purista.spec.models import Spec
from purista.spec.names import NAME_MAX_LENGTH, NAME_PATTERN

DOCS_FILE = "docs/reference/spec.md"
REGENERATE = f"python -m purista.reference {DOCS_FILE}"
_INLINE_EXAMPLE = 70  # longer examples are left to the full spec at the end of the page


@dataclass(frozen=True)
class _Section:
    """One object of the spec: where it sits and its schema."""

    path: tuple[str, ...]  # `<service>`-style parts for names the user chooses
    schema: dict[str, Any]

    @property
    def anchor(self) -> str:
        return "-".join(p for p in self.path if not p.startswith("<")) or "top-level"

    @property
    def title(self) -> str:
        return f"`{'.'.join(self.path)}`" if self.path else "Top level"


def markdown(schema: dict[str, Any] | None = None) -> str:
    """The whole reference page, of the spec's JSON Schema unless `schema` is given."""
    schema = Spec.model_json_schema() if schema is None else schema
    defs: dict[str, Any] = schema["$defs"]
    shop = example_path("shop").read_text(encoding="utf-8")
    example = YAML(typ="safe").load(shop)
    sections = _sections((), schema, defs)
    lines = [
        "# Spec reference",
        "",
        "<!-- Generated from the spec's models by `" + REGENERATE + "`. Do not edit. -->",
        "",
        "Every key `purista.yaml` accepts, with its type, default and meaning. Unknown keys",
        "are errors (with the closest valid key suggested); the same information is in the",
        "JSON Schema `purista schema` prints, which editors use to complete and check the spec",
        "(see [Editor support](../guide/editor.md)). Examples come from the built-in shop",
        "example (`purista new NAME --example`), printed in full at the end of this page.",
        "",
        f"Names you choose (of services, commands, events, subscriptions and queues) match "
        f"`{NAME_PATTERN}`, at most {NAME_MAX_LENGTH} characters: camelCase, snake_case and "
        "kebab-case are all fine. Python identifiers are derived from them (`signUp` → "
        "`sign_up`), and the spelling in the spec is kept on the wire. In the paths below, "
        "`<service>`, `<command>` and so on stand for such a name.",
        "",
    ]
    for section in sections:
        lines += _section(section, sections, defs, example)
    lines += [
        "## The shop example in full { #shop-example }",
        "",
        "```yaml",
        shop.rstrip("\n"),
        "```",
        "",
    ]
    return "\n".join(lines)


def _sections(
    path: tuple[str, ...], schema: dict[str, Any], defs: dict[str, Any]
) -> list[_Section]:
    """The object at `path` and every object below it, depth first in the order of the keys."""
    out = [_Section(path, schema)]
    for key, prop in schema.get("properties", {}).items():
        child, mapped = _object_of(prop, defs)
        if child is None:
            continue
        sub = (*path, key, f"<{key.removesuffix('s')}>") if mapped else (*path, key)
        out += _sections(sub, child, defs)
    return out


def _object_of(prop: dict[str, Any], defs: dict[str, Any]) -> tuple[dict[str, Any] | None, bool]:
    """The model a key holds (or holds a map of, by name), if any."""
    if "$ref" in prop:
        return _def(prop["$ref"], defs), False
    for option in prop.get("anyOf", []):
        if "$ref" in option:
            return _def(option["$ref"], defs), False
    for value in prop.get("patternProperties", {}).values():
        if "$ref" in value:
            return _def(value["$ref"], defs), True
    return None, False


def _def(ref: str, defs: dict[str, Any]) -> dict[str, Any]:
    return dict(defs[ref.removeprefix("#/$defs/")])


def _section(
    section: _Section, sections: list[_Section], defs: dict[str, Any], example: Any
) -> list[str]:
    schema = section.schema
    level = "#" * min(2 + sum(1 for p in section.path if not p.startswith("<")) // 2, 4)
    lines = [f"{level} {section.title} {{ #{section.anchor} }}", ""]
    if description := schema.get("description"):
        lines += [description.replace("\n\n", "\n").replace("\n", " "), ""]
    required = set(schema.get("required", []))
    lines += ["| key | type | default | description | example |", "|---|---|---|---|---|"]
    for key, prop in schema.get("properties", {}).items():
        child = _child(section, key, sections)
        kind = _type(prop, defs, child)
        default = "required" if key in required else _default(prop, child)
        value = _example(example, (*section.path, key))
        lines.append(
            "| "
            + " | ".join([f"`{key}`", kind, default, _cell(prop.get("description", "")), value])
            + " |"
        )
    lines.append("")
    return lines


def _child(section: _Section, key: str, sections: list[_Section]) -> _Section | None:
    for other in sections:
        if other.path[: len(section.path) + 1] == (*section.path, key) and len(other.path) in (
            len(section.path) + 1,
            len(section.path) + 2,
        ):
            return other
    return None


def _type(prop: dict[str, Any], defs: dict[str, Any], child: _Section | None) -> str:
    """What a key holds, linking to the section of an object."""
    if child is not None:
        link = f"[object](#{child.anchor})"
        if "patternProperties" in prop:
            return f"map of name → {link}" + _limits(prop)
        return link + (", or null" if "anyOf" in prop else "")
    if "anyOf" in prop:
        kinds = [_type(o, defs, None) for o in prop["anyOf"] if o.get("type") != "null"]
        return " or ".join(kinds) + ", or null"
    if "const" in prop or "enum" in prop:
        values = [prop["const"]] if "const" in prop else prop["enum"]
        return " \\| ".join(f"`{json.dumps(v)}`" for v in values)
    return _plain_type(prop, defs)


def _plain_type(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    kind = prop.get("type", "any")
    if kind == "array":
        text = "list of " + _type(prop.get("items", {}), defs, None)
    elif kind == "object" and isinstance(prop.get("additionalProperties"), dict):
        text = "map of number → object" + _limits(prop)  # `versions`
    elif kind == "object":
        text = "JSON Schema" if prop.get("additionalProperties") is True else "object"
    elif kind == "string" and prop.get("pattern") == NAME_PATTERN:
        text = "name"
    elif kind == "string" and "description" in prop and "title" not in prop:
        text = prop["description"]  # a list's items: what they name
    else:
        text = str(kind) + _limits(prop)
    return text


def _limits(prop: dict[str, Any]) -> str:
    marks = {
        "minimum": "≥ {}",
        "exclusiveMinimum": "> {}",
        "maximum": "≤ {}",
        "minLength": "at least {} characters",
        "maxLength": "at most {} characters",
        "minProperties": "at least {}",
    }
    limits = [mark.format(prop[key]) for key, mark in marks.items() if key in prop]
    if "pattern" in prop:
        limits.append(f"matching {_code(prop['pattern'])}")
    return (", " + ", ".join(limits)) if limits else ""


def _code(text: str) -> str:
    """`text` as a Markdown code span, whatever backticks it holds."""
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence, pad = "`" * (longest + 1), " " if longest else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _default(prop: dict[str, Any], child: _Section | None) -> str:
    """The default, as the models give it (an object's: its own keys' defaults)."""
    if "default" not in prop:
        return _implicit_default(prop)
    value = prop["default"]
    if isinstance(value, dict) and child is not None:
        own = {k: p.get("default") for k, p in child.schema.get("properties", {}).items()}
        changed = [f"`{k}: {json.dumps(v)}`" for k, v in value.items() if own.get(k) != v]
        text = "its keys' defaults" + (", but " + ", ".join(changed) if changed else "")
    elif value is None:
        text = "none" if child is None else "none (absent)"
    else:
        text = f"`{json.dumps(value)}`"
    return text


def _implicit_default(prop: dict[str, Any]) -> str:
    """The default of a key the schema gives none for (a factory's value), or a dash."""
    kind = prop.get("type")
    if kind == "object" and isinstance(prop.get("additionalProperties"), dict):
        return "none"
    if kind == "object":
        return "`{}`" if "patternProperties" in prop else '`{"type": "object"}`'
    return "`[]`" if kind == "array" else "—"


def _example(example: Any, path: tuple[str, ...]) -> str:
    """The value at `path` in the shop example (the first name where the path has one)."""
    values = [example]
    for part in path:
        nxt = []
        for value in values:
            if not isinstance(value, dict):
                continue
            if part.startswith("<"):
                nxt += list(value.values())
            elif part in value:
                nxt.append(value[part])
        values = nxt
    for value in values:
        if isinstance(value, dict) and not _is_schema(path):
            return ""  # an object: its own section has the example
        text = json.dumps(value, ensure_ascii=False)
        if len(text) <= _INLINE_EXAMPLE:
            return f"`{text}`"
        return "[in the shop example](#shop-example)"
    return ""


def _is_schema(path: tuple[str, ...]) -> bool:
    return path[-1] in ("payload", "output")


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def main(argv: list[str] | None = None) -> int:
    """Print the reference, or write it to the one file given; 2 for bad arguments."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1 or any(arg.startswith("-") for arg in args):
        print(f"usage: {REGENERATE.replace(DOCS_FILE, '[FILE]')}", file=sys.stderr)
        return 2
    text = markdown()
    if not args:
        sys.stdout.write(text)
        return 0
    try:
        Path(args[0]).write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"{args[0]}: cannot write the reference: {exc.strerror}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
