"""Errors are values with a place: file, line, column and the path in the spec."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class PuristaError(Exception):
    """Base of every error purista reports to a user (exit code 2 unless said otherwise)."""

    exit_code = 2


@dataclass(frozen=True)
class SpecError:
    """One problem in a spec, with where it is."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class SpecErrors(PuristaError):  # noqa: N818  (it holds many errors)
    """Every problem found in one spec, reported together."""

    def __init__(self, errors: Iterable[SpecError]) -> None:
        self.errors = tuple(
            sorted(set(errors), key=lambda e: (e.line, e.column, e.path, e.message))
        )
        super().__init__("\n".join(str(e) for e in self.errors))


class UsageError(PuristaError):
    """A bad command-line argument or a target that cannot be used."""


class CheckFailed(PuristaError):  # noqa: N818  (reads as what happened)
    """A check that did not pass (a stale project, a plan over budget): exit code 1."""

    exit_code = 1


class GenerationError(PuristaError):
    """A stage after validation failed; nothing was written."""
