"""The `purista` CLI run in this process (typer's runner): what a user sees, no subprocess."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from purista.cli import app
from purista.errors import PuristaError
from typer.testing import CliRunner


@dataclass(frozen=True)
class Ran:
    """A finished CLI run: its exit code and what it printed."""

    returncode: int
    stdout: str
    stderr: str


def cli(*args: str, cwd: Path | None = None) -> Ran:
    """Run `purista ARGS` as the console script does: an error is one line and its exit code."""
    with _cwd(cwd):
        result = CliRunner().invoke(app, list(args))
    error = result.exception
    if isinstance(error, PuristaError):
        return Ran(error.exit_code, result.stdout, result.stderr + str(error) + "\n")
    if error is not None and not isinstance(error, SystemExit):
        raise error
    return Ran(result.exit_code, result.stdout, result.stderr)


@contextlib.contextmanager
def _cwd(folder: Path | None) -> Iterator[None]:
    if folder is None:
        yield
        return
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)
