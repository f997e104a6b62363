"""Helpers of the regeneration tests: a generated project to change, and its state on disk."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from support import EXAMPLES, purista


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`purista ARGS` in `cwd`, asserting it never shows a traceback."""
    result = purista(*args, cwd=cwd)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def ok(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`purista ARGS` in `cwd`, which must succeed."""
    result = run(*args, cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def make(spec: str, into: Path, name: str | None = None) -> Path:
    """A project generated from an example spec (`shop` with the example's handlers)."""
    args = ["new", name or spec, "--output", str(into)]
    args += ["--example"] if spec == "shop" else ["--spec", str(EXAMPLES / f"{spec}.yaml")]
    result = purista(*args)
    assert result.returncode == 0, result.stderr
    return into / (name or spec)


def state(root: Path) -> dict[str, tuple[bytes, int]]:
    """Contents and modification time (ns) of every file under `root`."""
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts and ".ruff_cache" not in p.parts
    }


def contents(root: Path) -> dict[str, bytes]:
    """Contents of every file under `root`."""
    return {path: data for path, (data, _) in state(root).items()}


def copy(project: Path, into: Path) -> Path:
    """A copy of a project, modification times kept."""
    shutil.copytree(project, into, symlinks=True)
    return into


def replace_in(path: Path, old: str, new: str) -> None:
    """Replace one occurrence of `old` (which must be there) in a file."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def read_manifest(root: Path) -> dict[str, dict[str, object]]:
    """The files the manifest lists, with their entries."""
    return dict(json.loads((root / ".purista/manifest.json").read_text())["files"])


def imports(root: Path, package: str) -> subprocess.CompletedProcess[str]:
    """Import the package, every service's tasks and every handler, with PYTHONPATH=src."""
    code = (
        "import importlib, sys\n"
        f"project = importlib.import_module('{package}._purista.project')\n"
        "for service in project.SERVICES.values():\n"
        "    tasks = importlib.import_module(service.tasks_module)\n"
        "    for binding in tasks.BINDINGS:\n"
        "        importlib.import_module(binding.module).handle\n"
    )
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, check=False
    )


def ruff_check(root: Path) -> subprocess.CompletedProcess[str]:
    """`ruff check .` in the project, with the project's own settings."""
    return subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "."],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
