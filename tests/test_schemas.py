"""Payload, output and event schemas: what `validate` refuses, and the models generated from them.

Every keyword a schema holds is either enforced by the generated models or refused,
with where it stands; every `$ref` resolves or is refused; every class is named
after the payload, output or event it belongs to.
"""

from __future__ import annotations

import ast
import json
import textwrap
import time
from pathlib import Path

import pytest
from purista.errors import GenerationError, SpecErrors
from purista.load import load_spec
from purista.models import _generate
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


def test_a_nested_class_that_would_take_another_owners_name_stops_generation() -> None:
    nested = {"type": "object", "properties": {"q": {"type": "string"}}}
    defs = [
        ("AOutput", {"type": "object", "$defs": {"XPayload": nested}, "properties": {}}),
        ("AOutputXPayload", {"type": "object", "properties": {"own": {"type": "integer"}}}),
    ]
    for order in (defs, defs[::-1]):
        with pytest.raises(GenerationError, match=r"would be named `AOutputXPayload`"):
            _generate([(name, json.dumps(schema)) for name, schema in order])


def test_definitions_of_one_owner_that_share_a_class_name_get_distinct_ones() -> None:
    schema = {
        "type": "object",
        "$defs": {"item": {"type": "string"}, "Item": {"type": "integer"}},
        "properties": {"a": {"$ref": "#/$defs/item"}, "b": {"$ref": "#/$defs/Item"}},
    }
    code = _generate([("PutPayload", json.dumps(schema))])
    assert "a: PutPayloadItem | None" in code
    assert "b: PutPayloadItemDef | None" in code


# ------------------------------------------------------------- `$ref`s


def test_fragments_anchors_and_a_ref_file_with_its_own_defs_resolve(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        """\
        put:
          payload:
            type: object
            properties:
              address: {$ref: "common.yaml#/$defs/Address"}
              item: {$ref: "shapes/item.yaml"}
              pos: {$ref: "#pos"}
            $defs:
              Pos: {$anchor: pos, type: object, properties: {x: {type: number}}}
        """,
        **{
            "common.yaml": """\
                $defs:
                  Address:
                    type: object
                    properties:
                      street: {type: string}
                      zip: {$ref: "#/$defs/Zip"}
                  Zip: {type: string, pattern: "^[0-9]+$"}
                """,
            "shapes__item.yaml": """\
                type: object
                properties: {part: {$ref: "#/$defs/Part"}}
                $defs:
                  Part: {type: object, properties: {n: {type: integer}}}
                """,
        },
    )
    made = purista("new", "shop", "--spec", str(spec), "--output", str(tmp_path / "out"))
    assert made.returncode == 0, made.stderr
    found = classes(tmp_path / "out" / "shop")
    payload = found["PutPayload"]
    assert "address: PutPayloadAddress | None" in payload
    assert "item: PutPayloadItem | None" in payload
    assert "pos: PutPayloadPos | None" in payload
    assert 'zip: Annotated[str | None, Field(pattern="^[0-9]+$")]' in found["PutPayloadAddress"]
    assert "part: PutPayloadItemPart | None" in found["PutPayloadItem"]
    assert "n: int | None" in found["PutPayloadItemPart"]
    assert "x: float | None" in found["PutPayloadPos"]
    assert not any("Any" in source for source in found.values())


def test_references_to_nothing_are_refused_where_they_are_written(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        """\
        put:
          payload:
            type: object
            properties:
              nope: {$ref: "#/$defs/Nope"}
              pos: {$ref: "#pos"}
              zip: {$ref: "common.yaml#/$defs/Zip"}
              own: {$ref: "own.yaml"}
              empty: {$ref: ""}
        """,
        **{
            "common.yaml": "$defs: {Address: {type: object}}\n",
            "own.yaml": "type: object\nproperties:\n  gone: {$ref: '#/$defs/Gone'}\n",
        },
    )
    assert refusals(spec) == [
        "own.yaml:3:16: properties.gone.$ref: `$ref` '#/$defs/Gone': own.yaml has nothing at "
        "`#/$defs/Gone`",
        "purista.yaml:10:26: services.box.commands.put.payload.properties.nope.$ref: `$ref` "
        "'#/$defs/Nope' points at nothing in this schema; define it under the schema's `$defs`",
        "purista.yaml:11:25: services.box.commands.put.payload.properties.pos.$ref: `$ref` "
        "'#pos' points at nothing in this schema; define it under the schema's `$defs`",
        "purista.yaml:12:25: services.box.commands.put.payload.properties.zip.$ref: `$ref` "
        "'common.yaml#/$defs/Zip': common.yaml has nothing at `#/$defs/Zip`",
        "purista.yaml:14:27: services.box.commands.put.payload.properties.empty.$ref: `$ref` is "
        "empty; name a file next to the spec (`common.yaml#/$defs/Address`) or a place in this "
        "schema (`#/$defs/Address`)",
    ]


def test_a_problem_inside_a_ref_file_is_placed_in_that_file(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        """\
        put:
          payload: {type: object, properties: {size: {$ref: "shapes/size.yaml#/$defs/Size"}}}
        """,
        **{
            "shapes__size.yaml": "$defs:\n  Size:\n    type: object\n    properties:\n"
            "      cm: {type: nmber}\n"
        },
    )
    assert refusals(spec) == [
        "shapes/size.yaml:5:18: $defs.Size.properties.cm.type: invalid JSON Schema: 'nmber' is "
        "not a JSON Schema type (array, boolean, integer, null, number, object, string)"
    ]


def test_a_cycle_of_ref_files_is_named_file_by_file(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        """\
        put:
          payload: {$ref: "a.yaml"}
        """,
        **{
            "a.yaml": "type: object\nproperties:\n  b: {$ref: b.yaml}\n",
            "b.yaml": "type: object\nproperties:\n  a: {$ref: a.yaml}\n",
        },
    )
    assert refusals(spec) == [
        "b.yaml:3:13: properties.a.$ref: `$ref` files refer to each other in a cycle: "
        "a.yaml → b.yaml → a.yaml"
    ]


# ------------------------------------------------------------- aliases and bytes


BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n"
    for prev, name in zip("abcdefgh", "bcdefghi", strict=False)
)


def test_an_alias_bomb_in_a_ref_file_is_refused_at_once(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        """\
        put:
          payload: {$ref: "bomb.yaml"}
        """,
        **{"bomb.yaml": "a: &a [x, x, x, x, x, x, x, x, x]\n" + BOMB},
    )
    started = time.monotonic()
    found = refusals(spec)
    assert time.monotonic() - started < 5
    assert len(found) == 1
    assert found[0].startswith("bomb.yaml:")
    assert "expands through aliases to more than" in found[0]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A minimal project to `add` to."""
    folder = tmp_path_factory.mktemp("project")
    made = purista("new", "shop", "--output", str(folder))
    assert made.returncode == 0, made.stderr
    return folder / "shop"


def test_an_alias_bomb_in_a_payload_file_is_refused_at_once(project: Path) -> None:
    (project / "bomb.yaml").write_text("a: &a [x, x, x, x, x, x, x, x, x]\n" + BOMB, "utf-8")
    service = next(iter((project / "src/shop/services").iterdir())).name
    before = (project / "purista.yaml").read_bytes()
    started = time.monotonic()
    result = purista("add", "command", service, "bulk", "--payload-file", "bomb.yaml", cwd=project)
    assert time.monotonic() - started < 15
    assert result.returncode == 2
    assert result.stderr.startswith("bomb.yaml:")
    assert "expands through aliases to more than" in result.stderr
    assert "Traceback" not in result.stderr
    assert (project / "purista.yaml").read_bytes() == before


def test_a_payload_file_that_is_not_utf8_is_named(project: Path) -> None:
    (project / "latin1.yaml").write_bytes(b'type: object\ndescription: "caf\xe9"\n')
    service = next(iter((project / "src/shop/services").iterdir())).name
    result = purista(
        "add", "command", service, "cafe", "--payload-file", "latin1.yaml", cwd=project
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "latin1.yaml:2:18: --payload-file is not UTF-8 (byte 0xe9: invalid continuation byte); "
        "save the file as UTF-8"
    )


# ------------------------------------------------------------- success events


EVENTS = """\
events:
  placed:
    payload:
      type: object
      additionalProperties: false
      required: [id, total, status]
      properties:
        id: {type: string}
        total: {type: number}
        status: {type: string, enum: [new, paid]}
        note: {type: string}
        lines: {type: array, items: {required: [sku], properties: {sku: {type: string}}}}
"""


def with_events(folder: Path, output: str) -> Path:
    spec = write(
        folder, f"place:\n  success_event: placed\n  output:\n{textwrap.indent(output, '    ')}"
    )
    spec.write_text(spec.read_text(encoding="utf-8") + EVENTS, encoding="utf-8")
    return spec


def test_an_output_the_event_accepts_passes(tmp_path: Path) -> None:
    spec = with_events(
        tmp_path,
        """\
        type: object
        additionalProperties: false
        required: [id, total]
        properties:
          id: {type: string}
          total: {type: integer}
          status: {type: string, enum: [new], default: new}
          lines: {type: array, items: {required: [sku], properties: {sku: {type: string}}}}
        """,
    )
    assert validate_spec(load_spec(spec)).events["placed"]


def test_an_output_the_event_may_refuse_is_refused(tmp_path: Path) -> None:
    spec = with_events(
        tmp_path,
        """\
        type: object
        required: [id, total, status]
        properties:
          id: {type: [string, "null"]}
          total: {type: string}
          status: {type: string}
          extra: {type: string}
          lines: {type: array, items: {type: object, properties: {sku: {type: integer}}}}
        """,
    )
    where = "purista.yaml:7:24: services.box.commands.place.success_event: the command's output "
    assert refusals(spec) == [
        where + "does not require `lines[].sku`, which the event requires",
        where + "may send `extra`, which the event does not allow (`additionalProperties: false`)",
        where + "may send `id` as null; the event accepts string",
        where + "may send `lines[].sku` as integer; the event accepts string",
        where + "may send `status` with a value the event's `enum` refuses",
        where + "may send `total` as string; the event accepts integer or number",
    ]
