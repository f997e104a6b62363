"""Stage 6: ruff, once, over the whole staged tree."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from ruff.__main__ import find_ruff_bin  # type: ignore[import-untyped]

from purista.errors import GenerationError


def format_files(files: dict[str, str]) -> dict[str, str]:
    """The files with their Python sources fixed (imports, unused names) and formatted by ruff."""
    with tempfile.TemporaryDirectory(prefix="purista-format-") as tmp:
        root = Path(tmp)
        for path, text in files.items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        if any(p.endswith(".py") for p in files):
            ruff = find_ruff_bin()
            _ruff([ruff, "check", "--fix-only", "--quiet", "--exit-zero", "."], root)
            _ruff([ruff, "format", "--quiet", "."], root)
        return {path: (root / path).read_text(encoding="utf-8") for path in files}


def _ruff(command: list[str], cwd: Path) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise GenerationError(f"ruff failed on the generated code: {detail[-2000:]}")
