"""Golden trees: what each example spec renders is committed under tests/golden/.

The runtime modules every project gets unchanged are not stored there: each copy
is checked against its source in `generator/purista/runtime/` instead, and the copy
of the spec's JSON Schema (`.purista/purista.schema.json`) against `purista schema`. Nor are the
kept bases of merged files (`.purista/base/`), which a new project holds equal to
the files themselves; and the manifest is stored with the hashes of purista's own
files (the runtime's, and the input hash that covers every template) left out.

Refresh them after an intended change to the generated output with:

    pytest --update-golden tests/test_golden.py tests/test_invalid_specs.py
"""

from __future__ import annotations

import difflib
import hashlib
import json
import shutil
from pathlib import Path

import pytest
from purista.manifest import BASE_DIR, BASE_SUFFIX, MANIFEST
from purista.paths import RUNTIME, runtime_modules
from purista.spec.schema import SCHEMA_FILE, json_schema_text
from support import EXAMPLES, REFRESH, ROOT, Golden, purista, tree

GOLDEN = ROOT / "tests" / "golden"
SPECS = ["minimal", "shop"]


def generate(spec: str, into: Path, hashseed: str = "0", cache: Path | None = None) -> Path:
    env = {"PYTHONHASHSEED": hashseed}
    if cache is not None:
        env["PURISTA_CACHE_DIR"] = str(cache)
    # purista's own output: the team skeleton is another tool's, tested in test_skeleton.py.
    spec_file = str(EXAMPLES / f"{spec}.yaml")
    result = purista(
        "new", spec, "--spec", spec_file, "--output", str(into), "--no-skeleton", env=env
    )
    assert result.returncode == 0, result.stderr
    return into / spec


def rendered(files: dict[str, bytes]) -> dict[str, bytes]:
    """A generated tree without what is copied, after checking each copy against its source."""
    manifest = json.loads(files[MANIFEST])
    runtime = {f"src/{manifest['package']}/_purista/{m}": m for m in runtime_modules()}
    out: dict[str, bytes] = {}
    for path, content in files.items():
        if path in runtime:
            assert content == (RUNTIME / runtime[path]).read_bytes(), f"{path} is not its source"
        elif path == SCHEMA_FILE:
            assert content.decode() == json_schema_text(), f"{path} is not `purista schema`"
        elif path.startswith(BASE_DIR + "/"):
            merged = path.removeprefix(BASE_DIR + "/").removesuffix(BASE_SUFFIX)
            assert content == files[merged], f"{path} differs from {merged} in a new project"
        else:
            out[path] = content
    for path, entry in manifest["files"].items():
        if path in runtime:
            assert entry["sha256"] == hashlib.sha256(files[path]).hexdigest()
            entry["sha256"] = "(the runtime module's hash)"
        elif path == SCHEMA_FILE:
            assert entry["sha256"] == hashlib.sha256(files[path]).hexdigest()
            entry["sha256"] = "(the hash of `purista schema`)"
    manifest["inputs"]["sha256"] = "(the hash of the spec and of purista's templates)"
    out[MANIFEST] = (json.dumps(manifest, indent=2) + "\n").encode()
    return out


def test_every_runtime_module_but_the_rendered_one_is_copied() -> None:
    template = ROOT / "templates/project/src/{package}/_purista"
    assert [p.name for p in template.iterdir()] == ["project.py.jinja"]
    assert "project.py" not in runtime_modules()
    for module in runtime_modules():
        text = (RUNTIME / module).read_text(encoding="utf-8")
        assert "{{" not in text and "{%" not in text, f"{module} holds Jinja syntax"


@pytest.mark.parametrize("spec", SPECS)
def test_generated_tree_matches_golden(spec: str, tmp_path: Path) -> None:
    got = rendered(tree(generate(spec, tmp_path)))
    golden = GOLDEN / spec
    if Golden.update:
        shutil.rmtree(golden, ignore_errors=True)
        for path, content in got.items():
            (golden / path).parent.mkdir(parents=True, exist_ok=True)
            (golden / path).write_bytes(content)
    want = tree(golden)
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


def test_graph_of_the_shop_matches_golden() -> None:
    """`purista export graph` of the shop: tests/golden/graphs/shop.mmd (parsed in test_export)."""
    result = purista("export", "graph", "--spec", str(EXAMPLES / "shop.yaml"))
    assert result.returncode == 0, result.stderr
    golden = GOLDEN / "graphs" / "shop.mmd"
    if Golden.update:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(result.stdout, encoding="utf-8")
    want = golden.read_text(encoding="utf-8")
    diff = difflib.unified_diff(want.splitlines(True), result.stdout.splitlines(True))
    assert result.stdout == want, "".join(diff) + f"\nif intended, refresh with: {REFRESH}"
