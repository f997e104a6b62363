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
from purista.errors import CheckFailed, PuristaError, UsageError
from purista.examples import example_text
from purista.load import load_spec, parse_spec
from purista.plan.capacity import problems, report
from purista.plan.model import Deploy, Worker
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
out = Console(soft_wrap=True)
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
    """Validate the spec and report every problem; warn when the capacity plan is over budget."""
    path = _spec_path(spec)
    plan = pipeline.plan_only(load_spec(path))
    for problem in problems(plan.deploy):
        err.print(f"warning: {problem} (see `purista plan`)", markup=False)
    out.print(f"[green]ok[/] {path}")


@app.command(name="plan")
def plan_command(
    spec: SpecOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """Show each worker's replicas and connections against the budgets; exit 1 if over budget."""
    deploy = pipeline.plan_only(load_spec(_spec_path(spec))).deploy
    if as_json:
        sys.stdout.write(json.dumps(report(deploy), indent=2) + "\n")
    else:
        _print_plan(deploy)
    if not deploy.ok:
        raise CheckFailed("over budget:\n  " + "\n  ".join(problems(deploy)))


def _plan_row(w: Worker) -> tuple[str, ...]:
    c = w.capacity
    label = f"{w.name} v{w.version}" if w.kind == "service" else f"{w.name} (jobs)"
    numbers = (
        w.replicas,
        w.max_replicas,
        w.concurrency,
        c.processes,
        c.db_pool_per_process,
        c.db_connections_per_instance,
        c.db_connections_at_max,
        c.redis_connections_per_instance,
        c.redis_connections_at_max,
    )
    cells = [str(n) for n in numbers]
    return (label, *cells[:2], w.pool, *cells[2:])


def _print_plan(deploy: Deploy) -> None:
    """The plan as a plain table: fixed columns, the same on a terminal and in a pipe."""
    head = ("worker", "replicas", "max", "pool", "conc", "procs", "db/proc", "db/inst", "db@max",
            "redis/inst", "redis@max")  # fmt: skip
    rows = [head, *(_plan_row(w) for w in deploy.workers)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for row in rows:
        cells = [
            cell.ljust(width) if i in (0, 3) else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        out.print("  ".join(cells).rstrip(), markup=False, highlight=False)
    if deploy.database is not None:
        db = deploy.database
        verdict = "ok" if db.ok else "OVER BUDGET"
        out.print(
            f"database: {db.used_at_max} of {db.budget} connections at max replicas "
            f"(max_connections {db.max_connections} - reserved {db.reserved_connections}): "
            f"{verdict}",
            markup=False,
            highlight=False,
        )
    redis = deploy.redis
    verdict = "ok" if redis.ok else "OVER BUDGET"
    out.print(
        f"redis: {redis.used_at_max} of {redis.budget} connections at max replicas: {verdict}",
        markup=False,
        highlight=False,
    )


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
