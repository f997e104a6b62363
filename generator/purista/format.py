"""Stage 6: ruff over the Python sources, once per run, only on text it has not seen.

ruff fixes imports and unused names and formats. Its answer for a file depends
on the file's text and path, the project's ruff settings (`pyproject.toml`) and
which packages are first-party (the folders under `src/`), so it is cached under
a hash of exactly those: a run that changes one command formats a few files.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from importlib.metadata import version
from pathlib import Path

from ruff.__main__ import find_ruff_bin  # type: ignore[import-untyped]

from purista import cache
from purista.errors import GenerationError

_CONFIG = "pyproject.toml"


def format_files(files: dict[str, str]) -> dict[str, str]:
    """The files with their Python sources fixed (imports, unused names) and formatted by ruff."""
    sources = sorted(p for p in files if p.endswith(".py"))
    if not sources:
        return dict(files)
    ruff = find_ruff_bin()
    context = _context(ruff, files)
    keys = {p: _key(context, p, files[p]) for p in sources}
    done = {p: cache.get("format", keys[p]) for p in sources}
    todo = [p for p in sources if done[p] is None]
    if todo:
        fresh = _run_ruff(ruff, files, todo)
        for path in todo:
            cache.put("format", keys[path], fresh[path])
            done[path] = fresh[path]
    return {p: (done.get(p) or text) if p.endswith(".py") else text for p, text in files.items()}


def _context(ruff: str, files: dict[str, str]) -> str:
    """What ruff's answer depends on besides a file's own path and text."""
    version = _ruff_version(ruff)
    packages = sorted({p.split("/")[1] for p in files if p.startswith("src/") and p.count("/") > 1})
    config = hashlib.sha256(files.get(_CONFIG, "").encode()).hexdigest()
    return f"{version}\n{config}\n{','.join(packages)}"


def _key(context: str, path: str, text: str) -> str:
    return hashlib.sha256(f"{context}\n{path}\n{text}".encode()).hexdigest()


def _run_ruff(ruff: str, files: dict[str, str], todo: list[str]) -> dict[str, str]:
    """Run ruff on the `todo` files in a tree with the project's config and folders."""
    with tempfile.TemporaryDirectory(prefix="purista-format-") as tmp:
        root = Path(tmp)
        for path in files:  # every folder, so ruff sees the same first-party packages
            (root / path).parent.mkdir(parents=True, exist_ok=True)
        if _CONFIG in files:
            (root / _CONFIG).write_text(files[_CONFIG], encoding="utf-8")
        for path in todo:
            (root / path).write_text(files[path], encoding="utf-8")
        _ruff([ruff, "check", "--fix-only", "--quiet", "--exit-zero", "."], root)
        _ruff([ruff, "format", "--quiet", "."], root)
        return {path: (root / path).read_text(encoding="utf-8") for path in todo}


def _ruff_version(ruff: str) -> str:
    return f"ruff {version('ruff')} at {ruff}"


def _ruff(command: list[str], cwd: Path) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise GenerationError(f"ruff failed on the generated code: {detail[-2000:]}")
