"""Spec edits of `purista add`: layout kept, and the quick splice agrees with the round trip."""

from __future__ import annotations

import difflib
import io
from pathlib import Path
from typing import Any

import pytest
from purista import edit
from purista.load import parse_spec
from ruamel.yaml import YAML
from support import EXAMPLES

FOUR_SPACES = """\
spec_version: 1
project:
    name: p   # four spaces
services:
    svc:
        commands:
            one:
                can_emit:
                  - ev
        # the end of svc
    other: {version: 2, commands: {a: {}}}
events:
    ev: {}
"""


def added(text: str, **changes: Any) -> edit.Edited:
    return edit.add_command(
        text,
        changes.get("service", "svc"),
        changes.get("name", "two"),
        description=changes.get("description", ""),
        payload={"type": "object"},
        output={"type": "object"},
        links={"can_emit": ["ev"]},
    )


def kept_lines(old: str, new: str) -> bool:
    """Whether every line of `old` is in `new`, in order."""
    a, b = old.splitlines(), new.splitlines()
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()) == len(a)


@pytest.mark.parametrize("spec", ["minimal", "shop"])
def test_the_round_trip_writes_an_example_back_as_it_was(spec: str) -> None:
    text = (EXAMPLES / f"{spec}.yaml").read_text()
    yaml = edit._yaml(text)
    out = io.StringIO()
    yaml.dump(yaml.load(text), out)
    assert out.getvalue() == text


def test_four_space_indents_and_block_lists_are_kept_by_the_full_round_trip() -> None:
    result = added(FOUR_SPACES, service="other", name="b")  # a flow mapping: the full way
    assert result.document is not None
    assert "                can_emit:\n                  - ev\n" in result.text
    assert kept_lines(
        FOUR_SPACES.replace("    other: {version: 2, commands: {a: {}}}\n", ""), result.text
    )


def test_the_splice_and_the_round_trip_give_the_same_values(tmp_path: Path) -> None:
    path = tmp_path / "purista.yaml"
    parse_spec(FOUR_SPACES, path)  # loaded once: the splice may start from its values
    quick = added(FOUR_SPACES)
    assert quick.data is not None, "the splice was expected to apply"
    assert quick.text == FOUR_SPACES.replace(
        "        # the end of svc\n",
        "            two:\n                payload: {type: object}\n"
        "                output: {type: object}\n                can_emit: [ev]\n"
        "        # the end of svc\n",
    )
    assert YAML(typ="safe").load(quick.text) == quick.data
    full = edit._add(  # the round trip, for comparison
        FOUR_SPACES + "\n",  # a text never loaded: no splice
        ("services", "svc", "commands"),
        "two",
        {"payload": {"type": "object"}, "output": {"type": "object"}, "can_emit": ["ev"]},
        "command",
    )
    assert full.document is not None
    assert YAML(typ="safe").load(full.text) == quick.data


def test_the_splice_refuses_a_name_that_exists(tmp_path: Path) -> None:
    parse_spec(FOUR_SPACES, tmp_path / "purista.yaml")
    with pytest.raises(Exception, match="command `one` of service `svc` already exists"):
        added(FOUR_SPACES, name="one")
