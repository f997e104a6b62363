"""The console script's entry point.

A plain `purista generate` with nothing to do answers here, before the command
line framework is loaded: it is run often (editors, hooks, CI) and then costs
little more than reading the manifest. Everything else goes to `purista.cli`.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> None:
    """Run `purista` with the process's arguments."""
    plain, spec = _plain_generate(sys.argv[1:])
    if plain:
        from purista.pipeline import SPEC_FILE, unchanged  # noqa: PLC0415

        root = Path.cwd()
        report = unchanged(root, spec if spec is not None else root / SPEC_FILE)
        if report is not None:
            sys.stdout.write("".join(f"{line}\n" for line in report.lines(would=False)))
            return
    from purista.cli import main as cli_main  # noqa: PLC0415

    cli_main()


def _plain_generate(args: list[str]) -> tuple[bool, Path | None]:
    """Whether `args` are `generate` alone or with `--spec FILE`, and that spec (None: default)."""
    if args == ["generate"]:
        return True, None
    if len(args) == 3 and args[:2] == ["generate", "--spec"] and args[2]:
        return True, Path(args[2])
    if len(args) == 2 and args[0] == "generate" and args[1].startswith("--spec=") and args[1][7:]:
        return True, Path(args[1][7:])
    return False, None
