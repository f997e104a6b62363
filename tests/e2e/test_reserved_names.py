"""The modules a project may not be named after, checked against a generated project's venv.

The project is the one `scripts/dependency_modules.py` computes the list from: the shop
example with a route and a schedule, so the gateway's and the scheduler's dependencies
count too.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from purista.spec._dependency_modules import DEPENDENCY_MODULES
from support import ROOT, project_venv

pytestmark = pytest.mark.e2e

SCRIPT = ROOT / "scripts" / "dependency_modules.py"


@pytest.fixture(scope="module")
def python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a venv with that project installed (cached like every project venv)."""
    spec = importlib.util.spec_from_file_location("dependency_modules", SCRIPT)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    root: Path = script.generate(tmp_path_factory.mktemp("reserved"))
    return project_venv(root) / "bin" / "python"


def test_dependency_modules_are_those_an_installed_project_has(python: Path) -> None:
    """`scripts/dependency_modules.py` computes the same list from the project's venv."""
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--python", str(python), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_each_dependency_module_imports_in_an_installed_project(python: Path) -> None:
    """Every name the list refuses is a module the project's venv can import."""
    code = (
        "import importlib.util, sys\n"
        "missing = [m for m in sys.argv[1:] if importlib.util.find_spec(m) is None]\n"
        "print(' '.join(missing))\n"
    )
    result = subprocess.run(
        [str(python), "-c", code, *sorted(DEPENDENCY_MODULES)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == ""
    assert {"fastapi", "uvicorn", "croniter", "psycopg"} <= DEPENDENCY_MODULES
