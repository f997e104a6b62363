"""The modules a project may not be named after, checked against a generated project's venv."""

from __future__ import annotations

import subprocess
import sys

import pytest
from purista.spec._dependency_modules import DEPENDENCY_MODULES
from support import ROOT, Project

pytestmark = pytest.mark.e2e


def test_dependency_modules_are_those_an_installed_project_has(
    installed: dict[str, Project],
) -> None:
    """`scripts/dependency_modules.py` computes the same list from the shop's venv."""
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "dependency_modules.py"),
            "--python",
            installed["shop"].python,
            "--check",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_each_dependency_module_imports_in_an_installed_project(
    installed: dict[str, Project],
) -> None:
    """Every name the list refuses is a module the project's venv can import."""
    code = (
        "import importlib.util, sys\n"
        "missing = [m for m in sys.argv[1:] if importlib.util.find_spec(m) is None]\n"
        "print(' '.join(missing))\n"
    )
    result = subprocess.run(
        [installed["shop"].python, "-c", code, *sorted(DEPENDENCY_MODULES)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == ""
