"""Where purista's own data files are: inside the wheel, or at the top of a checkout."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """`templates` or `schemas`: shipped in the package, or beside `generator/` in a checkout."""
    for candidate in (_HERE / name, _HERE.parent.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"purista's {name} folder is missing from the installation")
