"""Bad command-line arguments: exit 2, one clear line on stderr, no traceback, nothing created.

Also the two commands that must simply work: `purista schema` prints what
`schemas/purista.schema.json` holds, and the example specs validate.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from support import EXAMPLES, ROOT, purista, tree

SCHEMA = ROOT / "schemas" / "purista.schema.json"


def refused(result: subprocess.CompletedProcess[str]) -> str:
    """The one line that says what was wrong, after checking how the command failed.

    Click's own hints (`Usage: ...`, `Try '... --help' for help.`) may stand around it.
    """
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    hints = ("Usage: ", "Try '")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    message = [line for line in lines if not line.startswith(hints)]
    assert len(message) == 1, f"expected one line saying what is wrong, got:\n{result.stderr}"
    return message[0]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty folder to run in, inside another, so `../x` would land in `tmp_path`."""
    work = tmp_path / "work"
    work.mkdir()
    return work


def assert_nothing_created(workdir: Path) -> None:
    assert list(workdir.iterdir()) == []
    assert [p.name for p in workdir.parent.iterdir()] == ["work"]


@pytest.mark.parametrize("name", ["../evil", "a b", "a/b", "1abc", "abc\n"])
def test_new_refuses_a_bad_project_name(name: str, workdir: Path) -> None:
    message = refused(purista("new", name, cwd=workdir))
    assert message == (
        f"invalid project name {name!r}: start with a letter, use letters, digits, `_` and `-`"
    )
    assert_nothing_created(workdir)


def test_new_refuses_a_spec_that_does_not_exist(workdir: Path) -> None:
    message = refused(purista("new", "x", "--spec", "missing.yaml", cwd=workdir))
    assert message == "missing.yaml:1:1: spec file not found"
    assert_nothing_created(workdir)


def test_new_refuses_spec_and_example_together(workdir: Path) -> None:
    spec = str(EXAMPLES / "minimal.yaml")
    message = refused(purista("new", "x", "--spec", spec, "--example", cwd=workdir))
    assert message == "give either --spec or --example, not both"
    assert_nothing_created(workdir)


def test_new_refuses_a_folder_that_is_not_empty(workdir: Path) -> None:
    (workdir / "x").mkdir()
    (workdir / "x" / "notes.txt").write_text("mine\n")
    message = refused(purista("new", "x", cwd=workdir))
    assert message == "x already exists and is not empty; choose another name or --output"
    assert tree(workdir) == {"x/notes.txt": b"mine\n"}  # untouched, no staging folder left


def test_new_refuses_an_unknown_option(workdir: Path) -> None:
    message = refused(purista("new", "x", "--bogus", cwd=workdir))
    assert message == "Error: No such option: --bogus"
    assert_nothing_created(workdir)


def test_schema_prints_the_committed_json_schema() -> None:
    result = purista("schema")
    assert result.returncode == 0, result.stderr
    assert result.stdout == SCHEMA.read_text(encoding="utf-8"), (
        f"{SCHEMA.relative_to(ROOT)} is out of date; refresh it with: "
        f"purista schema > {SCHEMA.relative_to(ROOT)}"
    )


@pytest.mark.parametrize("example", ["shop", "minimal"])
def test_the_example_specs_validate(example: str) -> None:
    result = purista("validate", "--spec", f"schemas/examples/{example}.yaml", cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout == f"ok schemas/examples/{example}.yaml\n"
