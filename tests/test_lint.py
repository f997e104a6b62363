"""The repository's own checks: ruff (lint and format) and `mypy --strict` over the generator
and the runtime every project carries (settings in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from support import ROOT


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "--no-cache", "."],
        ["ruff", "format", "--check", "--no-cache", "."],
        ["mypy"],
    ],
    ids=["ruff-check", "ruff-format", "mypy-strict"],
)
def test_the_code_passes(command: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_runtime_passes_the_generated_projects_own_ruff_rules() -> None:
    """The runtime is copied into each project, whose ruff has other rules (a `noqa` for a
    rule the project does not select is an error there)."""
    config = ROOT / "tests" / "golden" / "minimal" / "pyproject.toml"
    runtime = ROOT / "generator" / "purista" / "runtime"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--no-cache",
            "--config",
            str(config),
            str(runtime),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
