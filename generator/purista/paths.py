"""Where purista's own files are: templates, schemas and the runtime every project gets."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent

#: The runtime's modules, copied byte for byte into each project's `_purista/`.
RUNTIME = _HERE / "runtime"


def data_dir(name: str) -> Path:
    """`templates` or `schemas`: shipped in the package, or beside `generator/` in a checkout."""
    for candidate in (_HERE / name, _HERE.parent.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"purista's {name} folder is missing from the installation")


def runtime_modules() -> tuple[str, ...]:
    """The file names of the runtime's modules (`project.py` is rendered, so not among them)."""
    return tuple(sorted(p.name for p in RUNTIME.glob("*.py")))
