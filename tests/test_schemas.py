"""Payload, output and event schemas: what `validate` refuses, and the models generated from them.

Every keyword a schema holds is either enforced by the generated models or refused,
with where it stands; every `$ref` resolves or is refused; every class is named
after the payload, output or event it belongs to.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest
from purista.errors import SpecErrors
from purista.load import load_spec
from purista.validate import validate_spec
from support import purista

HEAD = """\
spec_version: 1
project: {name: shop}
services:
  box:
    commands:
"""


def write(folder: Path, commands: str, **files: str) -> Path:
    """A spec of one service `box` with these commands (YAML under `commands:`), and its files."""
    spec = folder / "purista.yaml"
    spec.write_text(HEAD + textwrap.indent(textwrap.dedent(commands), " " * 6), encoding="utf-8")
    for name, text in files.items():
        (folder / name.replace("__", "/")).parent.mkdir(parents=True, exist_ok=True)
        (folder / name.replace("__", "/")).write_text(textwrap.dedent(text), encoding="utf-8")
    return spec


def refusals(spec: Path) -> list[str]:
    """Every error `validate` finds in `spec`, as printed, the folder left out."""
    with pytest.raises(SpecErrors) as caught:
        validate_spec(load_spec(spec))
    return [str(e).replace(f"{spec.parent}/", "") for e in caught.value.errors]


# ------------------------------------------------------------- keywords never ignored


def test_keywords_the_models_cannot_enforce_are_refused_where_they_stand(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        """\
        put:
          payload:
            type: object
            properties:
              uniq: {type: array, uniqueItems: true, items: {type: integer}}
              fine: {type: array, uniqueItems: false}
              pair: {type: array, prefixItems: [{type: integer}]}
              neg: {not: {type: string}}
              has: {type: array, contains: {type: integer}}
              "not": {type: string}
              cond: {type: object, if: {required: [a]}, then: {required: [b]}}
              counted: {type: object, minProperties: 1}
              named: {type: object, properties: {a: {type: string}}, maxProperties: 1}
            dependentRequired: {a: [b]}
        """,
    )
    found = refusals(spec)
    where = "purista.yaml:{}: services.box.commands.put.payload."
    expected = [
        ("10:33", "properties.uniq.uniqueItems", "`uniqueItems: true`"),
        ("12:33", "properties.pair.prefixItems", "`prefixItems` (a tuple)"),
        ("13:19", "properties.neg.not", "`not`"),
        ("14:32", "properties.has.contains", "`contains`"),
        ("16:34", "properties.cond.if", "`if`/`then`/`else`"),
        ("16:55", "properties.cond.then", "`if`/`then`/`else`"),
        ("18:68", "properties.named.maxProperties", "`maxProperties` beside `properties`"),
        ("19:11", "dependentRequired", "`dependentRequired`"),
    ]
    assert len(found) == len(expected), found
    for (at, path, what), error in zip(expected, found, strict=True):
        assert error.startswith(where.format(at) + path + ": " + what), error
        assert "cannot enforce it" in error


def test_validate_exits_2_on_a_keyword_it_cannot_enforce(tmp_path: Path) -> None:
    write(
        tmp_path,
        """\
        put:
          payload: {type: object, properties: {uniq: {type: array, uniqueItems: true}}}
        """,
    )
    result = purista("validate", cwd=tmp_path)
    assert result.returncode == 2
    assert "properties.uniq.uniqueItems: `uniqueItems: true` is not supported" in result.stderr
    assert "Traceback" not in result.stderr


# ------------------------------------------------------------- class names


def classes(project: Path) -> dict[str, str]:
    """Each class of the service's models module, by name, with its source."""
    text = (project / "src/shop/services/box/v1/_generated/models.py").read_text(encoding="utf-8")
    tree = ast.parse(text)
    return {
        node.name: ast.get_source_segment(text, node) or ""
        for node in tree.body
        if isinstance(node, ast.ClassDef)
    }


def test_every_class_is_named_after_its_owner_and_stays_so(tmp_path: Path) -> None:
    commands = """\
    a:
      output:
        type: object
        $defs:
          Item: {type: object, properties: {x: {type: integer}}}
        properties:
          bOutput: {allOf: [{type: object, properties: {nested: {type: string}}}]}
          items: {type: array, items: {$ref: "#/$defs/Item"}}
    b:
      output:
        type: object
        required: [v]
        properties:
          v: {type: string}
    """
    spec = write(tmp_path, commands)
    made = purista("new", "shop", "--spec", str(spec), "--output", str(tmp_path / "out"))
    assert made.returncode == 0, made.stderr
    project = tmp_path / "out" / "shop"
    first = classes(project)
    assert "v: str" in first["BOutput"]  # b's output, not a's nested schema
    assert "nested: str" in first["AOutputBOutput"]
    assert "x: int" in first["AOutputItem"]
    assert not {name for name in first if not name.startswith(("AOutput", "APayload", "B"))}

    (project / "purista.yaml").write_text(
        (project / "purista.yaml").read_text(encoding="utf-8").split("    b:\n")[0],
        encoding="utf-8",
    )
    regenerated = purista("generate", cwd=project)
    assert regenerated.returncode == 0, regenerated.stderr
    second = classes(project)
    assert {n: c for n, c in first.items() if n.startswith("A")} == second
