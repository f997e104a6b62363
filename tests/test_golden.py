"""Golden trees: each example spec's whole generated project is committed under tests/golden/.

Refresh them after an intended change to the generated output with:

    PURISTA_UPDATE_GOLDEN=1 pytest tests/test_golden.py
"""

from __future__ import annotations

import difflib
import os
import shutil
from pathlib import Path

import pytest
from support import EXAMPLES, ROOT, purista, tree

GOLDEN = ROOT / "tests" / "golden"
REFRESH = "PURISTA_UPDATE_GOLDEN=1 pytest tests/test_golden.py"
SPECS = ["minimal", "shop"]


def generate(spec: str, into: Path, hashseed: str = "0", cache: Path | None = None) -> Path:
    env = {"PYTHONHASHSEED": hashseed}
    if cache is not None:
        env["PURISTA_CACHE_DIR"] = str(cache)
    result = purista(
        "new", spec, "--spec", str(EXAMPLES / f"{spec}.yaml"), "--output", str(into), env=env
    )
    assert result.returncode == 0, result.stderr
    return into / spec


@pytest.mark.parametrize("spec", SPECS)
def test_generated_tree_matches_golden(spec: str, tmp_path: Path) -> None:
    project = generate(spec, tmp_path)
    golden = GOLDEN / spec
    if os.environ.get("PURISTA_UPDATE_GOLDEN"):
        shutil.rmtree(golden, ignore_errors=True)
        shutil.copytree(project, golden)
    got, want = tree(project), tree(golden)
    problems = []
    for path in sorted(set(got) | set(want)):
        if path not in want:
            problems.append(f"new file {path}")
        elif path not in got:
            problems.append(f"missing file {path}")
        elif got[path] != want[path]:
            diff = difflib.unified_diff(
                want[path].decode().splitlines(keepends=True),
                got[path].decode().splitlines(keepends=True),
                f"golden/{spec}/{path}",
                f"generated/{path}",
            )
            problems.append("".join(diff))
    assert not problems, (
        "\n".join(problems) + f"\n\nif the change is intended, refresh with: {REFRESH}"
    )


def test_generation_is_deterministic_across_hash_seeds(tmp_path: Path) -> None:
    # Each run with an empty model cache, so datamodel-code-generator runs both times.
    first = tree(generate("shop", tmp_path / "a", hashseed="1", cache=tmp_path / "cache-a"))
    second = tree(generate("shop", tmp_path / "b", hashseed="4242", cache=tmp_path / "cache-b"))
    assert first == second
