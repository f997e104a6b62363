"""The `purista` command line: thin, and the only code that prints."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from purista import pipeline
from purista._version import __version__
from purista.errors import PuristaError, UsageError
from purista.examples import example_text
from purista.load import load_spec, parse_spec
from purista.spec.models import Spec
from purista.spec.names import is_valid_name
from purista.write import Report, ensure_free

app = typer.Typer(
    name="purista",
    help="Turn a YAML spec of message-based services into a Celery and Redis project.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
out = Console()
# Errors stay one line each, whatever the terminal's width, and spec text is printed as is.
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

SpecOption = Annotated[
    Path | None,
    typer.Option("--spec", help="The spec file [default: ./purista.yaml].", dir_okay=False),
]


def main() -> None:
    """Entry point of the console script."""
    try:
        app()
    except PuristaError as exc:
        err.print(str(exc), markup=False)
        sys.exit(exc.exit_code)


def _spec_path(spec: Path | None) -> Path:
    return spec if spec is not None else Path.cwd() / pipeline.SPEC_FILE


@app.command()
def new(
    name: Annotated[str, typer.Argument(help="The project's folder name.", metavar="NAME")],
    spec: SpecOption = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to create NAME.", file_okay=False)
    ] = Path(),
    example: Annotated[
        bool, typer.Option("--example", help="Start from the built-in shop example.")
    ] = False,
) -> None:
    """Scaffold a project in OUTPUT/NAME from a spec or a built-in example."""
    if not is_valid_name(name):
        raise UsageError(
            f"invalid project name {name!r}: start with a letter, use letters, digits, `_` and `-`"
        )
    if spec is not None and example:
        raise UsageError("give either --spec or --example, not both")
    if spec is not None:
        loaded = load_spec(spec)
    else:
        text = example_text("shop" if example else "minimal", name)
        loaded = parse_spec(text, Path.cwd() / name / pipeline.SPEC_FILE)
    target = output / name
    ensure_free(target)  # before the work of generating
    result, report = pipeline.new_project(loaded, target, "shop" if example else None)
    package = result.plan.project.package
    out.print(
        f"[green]created[/] {target} ({len(report.created)} files, package [bold]{package}[/])"
    )
    out.print(f"next: cd {target} && pip install -e '.[test]' && pytest", markup=False)


@app.command()
def generate(
    spec: SpecOption = None,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 if anything would change.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would change; write nothing.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite hand-edited generated files.")
    ] = False,
) -> None:
    """Bring the project in the current folder up to date with its spec."""
    root = Path.cwd()
    if check or dry_run:
        from purista.write import plan_update  # noqa: PLC0415

        result = pipeline.build(load_spec(_spec_path(spec)))
        report, _ = plan_update(root, result.output, force=force)
        _print_report(report, would=True)
        if check and (report.changed or report.edited):
            sys.exit(1)
        return
    _, report = pipeline.generate_project(root, _spec_path(spec), force=force)
    _print_report(report, would=False)


def _print_report(report: Report, *, would: bool) -> None:
    verbs = (
        ("would write", "would create", "would remove")
        if would
        else ("wrote", "created", "removed")
    )
    for verb, paths in zip(verbs, (report.written, report.created, report.removed), strict=True):
        for path in paths:
            out.print(f"{verb} {path}", markup=False, highlight=False)
    for path in report.kept:
        out.print(f"kept {path} (changed by you; not updated)", markup=False, highlight=False)
    for path in report.edited:
        out.print(f"edited by hand: {path}", markup=False, highlight=False)
    if not (report.changed or report.kept or report.edited):
        out.print("up to date")


@app.command()
def validate(spec: SpecOption = None) -> None:
    """Validate the spec and report every problem."""
    path = _spec_path(spec)
    pipeline.check(load_spec(path))
    out.print(f"[green]ok[/] {path}")


@app.command()
def schema() -> None:
    """Print the JSON Schema of the spec format."""
    sys.stdout.write(spec_json_schema())


def spec_json_schema() -> str:
    """The spec format's JSON Schema, as `schemas/purista.schema.json` holds it."""
    return json.dumps(Spec.model_json_schema(), indent=2) + "\n"


@app.command()
def version() -> None:
    """Print purista's version."""
    out.print(__version__)
