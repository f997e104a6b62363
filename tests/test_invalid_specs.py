"""Invalid specs: each file in tests/specs/invalid is refused with exactly its snapshot.

Every `<name>.yaml` there holds one kind of mistake; `<name>.expected` is what
`purista validate --spec <name>.yaml` prints, run from that folder. After an
intended change to a message, refresh the snapshots with:

    pytest --update-golden tests/test_golden.py tests/test_invalid_specs.py
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from purista.errors import SpecErrors
from purista.load import load_spec
from support import REFRESH, ROOT, Golden, purista

INVALID = ROOT / "tests" / "specs" / "invalid"
SPECS = sorted(path.name for path in INVALID.glob("*.yaml"))


@dataclass(frozen=True)
class Refusal:
    """What `validate` and `new` did with one invalid spec."""

    validate: subprocess.CompletedProcess[str]
    new: subprocess.CompletedProcess[str]
    output: Path  # the --output folder `new` was given, empty before the run


@pytest.fixture(scope="module")
def refusals(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Refusal]:
    """Both commands on each spec this session tests (all, unless filtered), several at a time."""
    names: set[str] = set()
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if getattr(item, "module", None) is request.module and callspec is not None:
            names.add(callspec.params["name"])

    def refuse(name: str) -> Refusal:
        output = tmp_path_factory.mktemp(Path(name).stem)
        return Refusal(
            validate=purista("validate", "--spec", name, cwd=INVALID),
            new=purista("new", "proj", "--spec", name, "--output", str(output), cwd=INVALID),
            output=output,
        )

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as pool:
        return dict(zip(sorted(names), pool.map(refuse, sorted(names)), strict=True))


def snapshot(name: str) -> Path:
    return INVALID / f"{Path(name).stem}.expected"


def assert_matches_snapshot(name: str, stderr: str) -> None:
    path = snapshot(name)
    if Golden.update:
        path.write_text(stderr, encoding="utf-8")
    expected = path.read_text(encoding="utf-8") if path.exists() else ""
    if stderr != expected:
        diff = difflib.unified_diff(
            expected.splitlines(keepends=True),
            stderr.splitlines(keepends=True),
            f"{path.relative_to(ROOT)}",
            "stderr",
        )
        pytest.fail(
            "".join(diff) + f"\nif the new message is right, refresh the snapshots with: {REFRESH}",
            pytrace=False,
        )


def test_every_invalid_spec_has_a_snapshot_and_no_snapshot_is_orphaned() -> None:
    specs = {Path(name).stem for name in SPECS}
    snapshots = {path.stem for path in INVALID.glob("*.expected")}
    assert not snapshots - specs, "snapshots without a spec"
    if not Golden.update:
        assert not specs - snapshots, f"specs without a snapshot; create them with: {REFRESH}"


@pytest.mark.parametrize("name", SPECS)
def test_validate_refuses_with_located_messages(name: str, refusals: dict[str, Refusal]) -> None:
    result = refusals[name].validate
    assert "Traceback" not in result.stderr
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    # One problem a line, each starting with where it is: `<file>:<line>:<column>: `.
    lines = result.stderr.splitlines()
    assert lines
    for line in lines:
        assert re.match(rf"{re.escape(name)}:[1-9][0-9]*:[1-9][0-9]*: \S", line), line
    assert_matches_snapshot(name, result.stderr)


@pytest.mark.parametrize("name", SPECS)
def test_new_refuses_the_same_way_and_writes_nothing(
    name: str, refusals: dict[str, Refusal]
) -> None:
    refusal = refusals[name]
    assert "Traceback" not in refusal.new.stderr
    assert refusal.new.returncode == 2, refusal.new.stderr
    assert refusal.new.stderr == refusal.validate.stderr
    assert list(refusal.output.iterdir()) == []


def test_alias_bomb_is_refused_in_well_under_a_second() -> None:
    start = time.perf_counter()
    with pytest.raises(SpecErrors, match="alias bomb"):
        load_spec(INVALID / "alias_bomb.yaml")
    assert time.perf_counter() - start < 0.5
