"""The `purista` command line: thin, and the only code that prints."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from purista import pipeline
from purista._version import __version__
from purista.errors import CheckFailed, PuristaError, UsageError
from purista.write import Report, ensure_free

if TYPE_CHECKING:
    from purista.diff import Contract
    from purista.edit import Edited
    from purista.plan.model import Deploy, Plan, Worker

app = typer.Typer(
    name="purista",
    help="Turn a YAML spec of message-based services into a Celery and Redis project.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
out = Console(highlight=False, soft_wrap=True, emoji=False)
# Errors stay one line each, whatever the terminal's width, and spec text is printed as is.
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

SpecOption = Annotated[
    Path | None,
    typer.Option(
        "--spec",
        help="The spec file; its folder is the project's root [default: ./purista.yaml].",
        dir_okay=False,
    ),
]
NewSpecOption = Annotated[
    Path | None,
    typer.Option(
        "--spec",
        help="The spec to start from, copied into NAME with the files its `$ref`s read "
        "[default: a minimal one-command project].",
        dir_okay=False,
    ),
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


def _project(spec: Path | None) -> tuple[Path, Path]:
    """The project's root and its spec: the spec's folder, or the current folder.

    From a folder inside a project (no spec here, one above) the run stops and names
    the root, rather than build a second project in the subfolder.
    """
    if spec is not None:
        path = Path(os.path.abspath(spec))  # not resolved: a linked spec's project is here
        return path.parent, path
    here = Path.cwd()
    path = here / pipeline.SPEC_FILE
    if not path.exists() and not path.is_symlink():
        for folder in here.parents:
            if (folder / pipeline.SPEC_FILE).is_file():
                raise UsageError(
                    f"no {pipeline.SPEC_FILE} here; the project root is {folder}: run purista "
                    f"there, or give --spec {folder / pipeline.SPEC_FILE}"
                )
    return here, path


@app.command()
def new(  # noqa: PLR0917  (typer: one parameter per option)
    name: Annotated[str, typer.Argument(help="The project's folder name.", metavar="NAME")],
    spec: NewSpecOption = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to create NAME.", file_okay=False)
    ] = Path(),
    example: Annotated[
        bool, typer.Option("--example", help="Start from the built-in shop example.")
    ] = False,
    skeleton: Annotated[
        str | None,
        typer.Option(
            "--skeleton",
            help="A copier template (folder or git URL) of the files your team wants in every "
            "project, rendered once over it [default: purista's: a CI workflow and pre-commit].",
            metavar="SRC",
        ),
    ] = None,
    no_skeleton: Annotated[
        bool, typer.Option("--no-skeleton", help="Add no skeleton files at all.")
    ] = False,
    trust: Annotated[
        bool,
        typer.Option("--trust", help="Let the skeleton run its tasks and Jinja extensions."),
    ] = False,
) -> None:
    """Scaffold a project in OUTPUT/NAME from a spec or a built-in example."""
    from purista.examples import example_text  # noqa: PLC0415
    from purista.load import load_spec, parse_spec  # noqa: PLC0415
    from purista.spec.names import PythonIdentifier, hidden_module, is_valid_name  # noqa: PLC0415

    if not is_valid_name(name):
        raise UsageError(
            f"invalid project name {name!r}: start with a letter, use letters, digits, `_` and `-`"
        )
    hidden = hidden_module(name) if spec is None else None  # a spec names its own project
    if hidden is not None:
        raise UsageError(
            f"invalid project name {name!r}: its package `{PythonIdentifier(name)}` would hide "
            f"{hidden}; choose another name"
        )
    if spec is not None and example:
        raise UsageError("give either --spec or --example, not both")
    if skeleton is not None and no_skeleton:
        raise UsageError("give either --skeleton or --no-skeleton, not both")
    # Without a spec, a built-in example with working handlers: the shop, or a greeter.
    builtin: str | None = None
    if spec is not None:
        loaded = load_spec(spec)
    else:
        builtin = "shop" if example else "minimal"
        text = example_text(builtin, name)
        loaded = parse_spec(text, Path.cwd() / name / pipeline.SPEC_FILE)
    target = output / name
    ensure_free(target)  # before the work of generating
    from purista.skeleton import BUILTIN  # noqa: PLC0415

    result, report = pipeline.new_project(
        loaded,
        target,
        builtin,
        skeleton=None if no_skeleton else skeleton or BUILTIN,
        trust=trust,
    )
    package = result.plan.project.package
    out.print(
        f"[green]created[/] {target} ({len(report.created)} files, package [bold]{package}[/])"
    )
    out.print(f"next: cd {target} && pip install -e '.[test]' && pytest", markup=False)


@app.command()
def generate(
    spec: SpecOption = None,
    check: Annotated[
        bool, typer.Option("--check", help="List what would change; exit 1 if anything would.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the diff of what would change; write nothing.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite hand-edited generated files; rebuild all.")
    ] = False,
) -> None:
    """Bring the project up to date with its spec (the project is the spec's folder)."""
    root, path = _project(spec)
    report = pipeline.generate_project(root, path, force=force, dry_run=check or dry_run)
    if dry_run:
        sys.stdout.write(report.diff())
    _print_report(report, would=check or dry_run, console=err if dry_run else out)
    if check and report.changed:
        sys.exit(1)
    _fail_on(report, would=check or dry_run)


def _print_report(report: Report, *, would: bool, console: Console | None = None) -> None:
    for line in report.lines(would=would):
        (console or out).print(line, markup=False, highlight=False)


def _fail_on(report: Report, *, would: bool) -> None:
    """Exit 1 when the run needs the user: hand edits, or conflicts to resolve."""
    if report.edited and report.no_manifest:
        raise CheckFailed(
            "generated files differ from purista's version and there is no manifest to tell "
            "an earlier version from a change by hand; check them, then run with --force"
        )
    if report.edited:
        raise CheckFailed(
            "generated files were changed by hand; move your changes into a handler, "
            "or run again with --force to overwrite them"
        )
    if report.conflicts or report.unresolved:
        files = ", ".join(report.conflicts + report.unresolved)
        verb = "would conflict" if would else "conflicts"
        raise CheckFailed(
            f"{verb} in {files}: resolve the <<<<<<< yours / >>>>>>> purista markers, "
            "then run purista generate"
        )


add_app = typer.Typer(
    name="add",
    help="Add to the spec (comments, order and layout kept) and regenerate.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(add_app)

Description = Annotated[str, typer.Option("--description", "-d", help="What it is for.")]
Payload = Annotated[
    str | None,
    typer.Option(
        "--payload", help="JSON Schema of the payload, as JSON [default: {type: object}]."
    ),
]
PayloadFile = Annotated[
    Path | None,
    typer.Option(
        "--payload-file",
        help="JSON Schema of the payload, from a JSON or YAML file.",
        dir_okay=False,
    ),
]
Output = Annotated[
    str | None,
    typer.Option("--output", help="JSON Schema of the output, as JSON [default: {type: object}]."),
]
OutputFile = Annotated[
    Path | None,
    typer.Option(
        "--output-file", help="JSON Schema of the output, from a JSON or YAML file.", dir_okay=False
    ),
]
CanInvoke = Annotated[
    list[str] | None,
    typer.Option(
        "--can-invoke",
        metavar="<service>.v<N>.<command>",
        help="A command it may invoke (repeatable).",
    ),
]
CanEmit = Annotated[
    list[str] | None,
    typer.Option("--can-emit", metavar="EVENT", help="An event it may emit (repeatable)."),
]
CanEnqueue = Annotated[
    list[str] | None,
    typer.Option(
        "--can-enqueue", metavar="QUEUE", help="A job queue it may add jobs to (repeatable)."
    ),
]
Name = Annotated[
    str, typer.Argument(help="The new name (spelling kept on the wire).", metavar="NAME")
]
ServiceName = Annotated[str, typer.Argument(help="The service to add to.", metavar="SERVICE")]
InVersion = Annotated[
    int | None,
    typer.Option(
        "--version", min=1, help="The version of the service to add to [default: its newest]."
    ),
]


@add_app.command("service")
def add_service(
    name: Name,
    version: Annotated[int, typer.Option("--version", help="The service's version.", min=1)] = 1,
    description: Description = "",
    spec: SpecOption = None,
) -> None:
    """Add a service (then add its commands, subscriptions and queues)."""
    from purista import edit  # noqa: PLC0415

    _add(
        spec,
        f"service {name}",
        lambda text: edit.add_service(text, name, version=version, description=description),
        name,
    )


@add_app.command("command")
def add_command(  # noqa: PLR0917  (typer: one parameter per option)
    service: ServiceName,
    name: Name,
    description: Description = "",
    payload: Payload = None,
    payload_file: PayloadFile = None,
    output: Output = None,
    output_file: OutputFile = None,
    can_invoke: CanInvoke = None,
    can_emit: CanEmit = None,
    can_enqueue: CanEnqueue = None,
    version: InVersion = None,
    spec: SpecOption = None,
) -> None:
    """Add a command (request and response) to a service."""
    from purista import edit  # noqa: PLC0415

    payload_schema = edit.read_schema("payload", payload, payload_file)
    output_schema = edit.read_schema("output", output, output_file)
    links = _links(can_invoke, can_emit, can_enqueue)
    _add(
        spec,
        f"command {service}.{name}",
        lambda text: edit.add_command(
            text,
            service,
            name,
            description=description,
            payload=payload_schema,
            output=output_schema,
            links=links,
            version=version,
        ),
        service,
        name,
    )


@add_app.command("subscription")
def add_subscription(  # noqa: PLR0917  (typer: one parameter per option)
    service: ServiceName,
    name: Name,
    event: Annotated[str, typer.Option("--event", help="The event it receives.")],
    description: Description = "",
    can_invoke: CanInvoke = None,
    can_emit: CanEmit = None,
    can_enqueue: CanEnqueue = None,
    version: InVersion = None,
    spec: SpecOption = None,
) -> None:
    """Add a subscription to an event to a service."""
    from purista import edit  # noqa: PLC0415

    links = _links(can_invoke, can_emit, can_enqueue)
    _add(
        spec,
        f"subscription {service}.{name}",
        lambda text: edit.add_subscription(
            text,
            service,
            name,
            event=event,
            description=description,
            links=links,
            version=version,
        ),
        service,
        name,
    )


@add_app.command("queue")
def add_queue(  # noqa: PLR0917  (typer: one parameter per option)
    service: ServiceName,
    name: Name,
    description: Description = "",
    payload: Payload = None,
    payload_file: PayloadFile = None,
    can_invoke: CanInvoke = None,
    can_emit: CanEmit = None,
    can_enqueue: CanEnqueue = None,
    version: InVersion = None,
    spec: SpecOption = None,
) -> None:
    """Add a job queue to a service."""
    from purista import edit  # noqa: PLC0415

    payload_schema = edit.read_schema("payload", payload, payload_file)
    links = _links(can_invoke, can_emit, can_enqueue)
    _add(
        spec,
        f"queue {service}.{name}",
        lambda text: edit.add_queue(
            text,
            service,
            name,
            description=description,
            payload=payload_schema,
            links=links,
            version=version,
        ),
        service,
        name,
    )


@add_app.command("event")
def add_event(
    name: Name,
    description: Description = "",
    payload: Payload = None,
    payload_file: PayloadFile = None,
    spec: SpecOption = None,
) -> None:
    """Add an event (publish it with --can-emit, receive it with a subscription)."""
    from purista import edit  # noqa: PLC0415

    payload_schema = edit.read_schema("payload", payload, payload_file)
    _add(
        spec,
        f"event {name}",
        lambda text: edit.add_event(text, name, description=description, payload=payload_schema),
        name,
    )


@add_app.command("version")
def add_version(
    service: Annotated[str, typer.Argument(help="The service.", metavar="SERVICE")],
    number: Annotated[
        int | None,
        typer.Argument(
            min=1, metavar="[N]", help="The new version's number [default: the newest + 1]."
        ),
    ] = None,
    spec: SpecOption = None,
) -> None:
    """Add a version of a service beside the ones it has, starting as a copy of the newest.

    The newest version's spec block (without its job queues, which keep their
    project-wide names) and its handlers and tests are copied, as new files of yours
    whose imports and task names name the new version; the older versions' files stay
    as they are.
    """
    from purista import edit  # noqa: PLC0415

    made: list[edit.NewVersion] = []

    def change(text: str) -> Edited:
        made.append(edit.add_version(text, service, number))
        return made[-1].edited

    def seed(root: Path, plan: Plan) -> dict[str, str]:
        return edit.copied_handlers(root, plan, made[-1])

    what = f"version {number}" if number is not None else "the next version"
    _add(spec, f"{what} of service {service}", change, service, seed=seed)


def _links(
    can_invoke: list[str] | None, can_emit: list[str] | None, can_enqueue: list[str] | None
) -> dict[str, list[str]]:
    return {
        "can_invoke": can_invoke or [],
        "can_emit": can_emit or [],
        "can_enqueue": can_enqueue or [],
    }


def _add(
    spec: Path | None,
    what: str,
    change: Callable[[str], Edited],
    *names: str,
    seed: Callable[[Path, Plan], dict[str, str]] | None = None,
) -> None:
    """Edit the spec with `change` and regenerate; an invalid result changes nothing.

    `seed` gives the first contents of new files of yours, from the project and its plan.
    """
    from purista.spec.names import is_valid_name  # noqa: PLC0415

    for name in names:
        if not is_valid_name(name):
            raise UsageError(
                f"invalid name {name!r}: start with a letter, use letters, digits, `_` and `-`"
            )
    root, path = _project(spec)
    report = pipeline.edit_project(
        root, path, change, None if seed is None else functools.partial(seed, root)
    )
    out.print(f"added {what} to {path.name}", markup=False, highlight=False)
    _print_report(report, would=False)
    _fail_on(report, would=False)


@app.command()
def validate(spec: SpecOption = None) -> None:
    """Validate the spec and report every problem; warn when the capacity plan is over budget."""
    from purista.load import load_spec  # noqa: PLC0415
    from purista.plan.capacity import problems  # noqa: PLC0415

    path = _spec_path(spec)
    plan = pipeline.plan_only(load_spec(path))
    for problem in problems(plan.deploy):
        err.print(f"warning: {problem} (see `purista plan`)", markup=False)
    out.print(f"[green]ok[/] {path}")


@app.command(name="plan")
def plan_command(
    spec: SpecOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
    target_rate: Annotated[
        list[str] | None,
        typer.Option(
            "--target-rate",
            metavar="TARGET=N/s",
            help="Size the workers for this rate of a command, event or job queue, from "
            "the service times `python -m <package> bench` measured (repeatable).",
        ),
    ] = None,
    measurements: Annotated[
        Path | None,
        typer.Option(
            help="The measurements file [default: .purista/measurements.json next to the spec].",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Show each worker's replicas and connections against the budgets; exit 1 if over budget.

    With --target-rate: the replicas each worker needs to sustain the rates, and the
    connections they imply; exit 1 when the budgets cannot hold them.
    """
    from purista.load import load_spec  # noqa: PLC0415
    from purista.plan.capacity import problems, report  # noqa: PLC0415

    path = _spec_path(spec)
    plan = pipeline.plan_only(load_spec(path))
    if target_rate:
        kept = measurements or path.parent / ".purista" / "measurements.json"
        _size_for_rates(plan, target_rate, kept, as_json=as_json)
        return
    deploy = plan.deploy
    if as_json:
        sys.stdout.write(json.dumps(report(deploy), indent=2) + "\n")
    else:
        _print_plan(deploy)
    if not deploy.ok:
        raise CheckFailed("over budget:\n  " + "\n  ".join(problems(deploy)))


def _size_for_rates(plan: Plan, texts: list[str], kept: Path, *, as_json: bool) -> None:
    from purista.plan import rates  # noqa: PLC0415

    target_loads = rates.loads(plan, rates.parse_rates(texts), rates.read_measurements(kept))
    sized, database, redis = rates.size(plan.deploy, target_loads)
    problems = rates.binding(database, redis)
    if as_json:
        sys.stdout.write(
            json.dumps(rates.report(sized, database, redis, problems), indent=2) + "\n"
        )
    else:
        out.print(
            f"sized from {kept} (mean service time x rate x {rates.HEADROOM} headroom)",
            markup=False,
        )
        for s in sized:
            w = s.worker
            out.print(
                f"{w.kube_name}: {s.slots:.1f} busy slots of {w.concurrency} per instance -> "
                f"{w.max_replicas} replicas; {w.capacity.db_connections_at_max} database and "
                f"{w.capacity.redis_connections_at_max} Redis connections",
                markup=False,
            )
            for load in s.loads:
                out.print(
                    f"  {load.target} {load.rate:g}/s: {load.handler}, "
                    f"{load.service_time * 1000:.1f} ms per message",
                    markup=False,
                )
        for name, b in (("database", database), ("redis", redis)):
            if b is not None:
                out.print(f"{name}: {b.used_at_max} of {b.budget} connections", markup=False)
    if problems:
        raise CheckFailed("the target rates do not fit the budgets:\n  " + "\n  ".join(problems))


def _plan_row(w: Worker) -> tuple[str, ...]:
    c = w.capacity
    label = {"service": f"{w.name} v{w.version}", "queue": f"{w.name} (jobs)"}.get(w.kind, w.name)
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


class ExportKind(StrEnum):
    """What `purista export` writes."""

    asyncapi = "asyncapi"
    openapi = "openapi"
    graph = "graph"


@app.command()
def export(
    kind: Annotated[
        ExportKind,
        typer.Argument(
            help="asyncapi: an AsyncAPI 3.0 document (JSON) of every queue and its schemas; "
            "openapi: the HTTP gateway's OpenAPI 3.1 document (JSON); "
            "graph: a Mermaid flowchart of who invokes, emits and enqueues what.",
            metavar="KIND",
        ),
    ],
    spec: SpecOption = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write it to this file [default: stdout].", dir_okay=False
        ),
    ] = None,
    graph_format: Annotated[
        str | None,
        typer.Option("--format", help="The graph's format: mermaid [default].", metavar="FORMAT"),
    ] = None,
) -> None:
    """Write a document made from the spec alone: AsyncAPI, OpenAPI, or a Mermaid graph."""
    from purista.load import load_spec  # noqa: PLC0415
    from purista.plan import build_plan  # noqa: PLC0415

    if graph_format is not None and (kind is not ExportKind.graph or graph_format != "mermaid"):
        raise UsageError(
            f"--format {graph_format!r}: only `purista export graph --format mermaid` is known"
        )
    loaded = load_spec(_spec_path(spec))
    model = pipeline.check(loaded)
    plan = build_plan(model, loaded.text, __version__)
    if kind is ExportKind.asyncapi:
        from purista.export import asyncapi  # noqa: PLC0415

        text = asyncapi.document(model, plan)
    elif kind is ExportKind.openapi:
        from purista.export import openapi  # noqa: PLC0415

        text = openapi.document(model)
    else:
        from purista.export import graph  # noqa: PLC0415

        text = graph.document(plan)
    if output is None:
        sys.stdout.write(text)
    else:
        _write_file(output, text)
        err.print(f"wrote {output}", markup=False)


def _write_file(path: Path, text: str) -> None:
    """Replace `path` with `text` at once: a reader sees the old file or the new, never half."""
    from purista.write import put  # noqa: PLC0415

    try:
        put(path, text)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


@app.command(name="diff")
def diff_command(
    old: Annotated[
        str,
        typer.Argument(
            help="The spec before: a file, or git:REV for the spec as it was at a git revision.",
            metavar="OLD",
        ),
    ],
    new: Annotated[
        str | None,
        typer.Argument(
            help="The spec after: a file, or git:REV [default: the --spec file].", metavar="NEW"
        ),
    ] = None,
    spec: Annotated[
        Path | None,
        typer.Option(
            "--spec",
            help="The spec file git:REV reads at that revision, and NEW's default "
            "[default: NEW if it is a file, else ./purista.yaml].",
            dir_okay=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print {changes: [...], breaking: N} as JSON.")
    ] = False,
) -> None:
    """List what changed between two specs and whom it breaks; exit 1 if it breaks a contract.

    A breaking change to a service whose version stayed the same, or to an event, exits 1.
    """
    from purista import diff  # noqa: PLC0415
    from purista.revision import is_revision  # noqa: PLC0415

    path = spec or (Path(new) if new is not None and not is_revision(new) else _spec_path(None))
    before = _contract(old, path)
    after = _contract(new if new is not None else str(path), path)
    found = diff.diff(before, after)
    if as_json:
        sys.stdout.write(json.dumps(found.as_json(), indent=2) + "\n")
    else:
        width = max((len(c.kind) for c in found.changes), default=0)
        for c in found.changes:
            breaks = f" (breaks {', '.join(c.breaks)})" if c.breaks else ""
            covered = " [covered: a new version]" if c.covered else ""
            line = f"{c.kind.ljust(width)}  {c.path}: {c.message}{breaks}{covered}"
            out.print(line, markup=False)
        count = len(found.changes)
        out.print(
            f"{count} change{'s' if count != 1 else ''}, {len(found.breaking)} breaking",
            markup=False,
        )
    uncovered = found.uncovered
    if uncovered:
        events = any(c.path.startswith("events.") for c in uncovered)
        raise CheckFailed(
            f"{len(uncovered)} breaking change{'s' if len(uncovered) != 1 else ''} "
            f"not covered by a new version (first: {uncovered[0].path}: "
            f"{uncovered[0].message}); keep the old contract, or give the service a new "
            "`version`" + (" (an event has none: add a new event beside it)" if events else "")
        )


def _contract(argument: str, spec: Path) -> Contract:
    """The contract of a spec file, or of the spec at `spec` as of a git revision."""
    from purista.diff import contract  # noqa: PLC0415
    from purista.load import load_spec  # noqa: PLC0415
    from purista.plan import build_plan  # noqa: PLC0415
    from purista.revision import is_revision, spec_at  # noqa: PLC0415

    if is_revision(argument):
        with spec_at(argument, spec) as loaded:
            model = pipeline.check(loaded)
    else:
        loaded = load_spec(Path(argument))
        model = pipeline.check(loaded)
    return contract(model, build_plan(model, loaded.text, __version__))


@app.command()
def schema() -> None:
    """Print the JSON Schema of the spec format."""
    from purista.spec.schema import json_schema_text  # noqa: PLC0415

    sys.stdout.write(json_schema_text())


@app.command()
def version() -> None:
    """Print purista's version."""
    out.print(__version__)


cache_app = typer.Typer(
    name="cache",
    help="purista's cache of payload models and formatted code, shared by every project.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(cache_app)


@cache_app.command(name="info")
def cache_info() -> None:
    """Print where the cache is, what it holds and its cap ($PURISTA_CACHE_MAX_MB)."""
    from purista import cache  # noqa: PLC0415

    held = cache.usage()
    out.print(
        f"{cache.base_dir()}: {held.entries} entries, {_megabytes(held.size)} "
        f"of at most {_megabytes(cache.max_bytes())}",
        markup=False,
    )


@cache_app.command(name="clear")
def cache_clear() -> None:
    """Delete the cache; the next runs fill it again."""
    from purista import cache  # noqa: PLC0415

    held = cache.clear()
    out.print(
        f"cleared {cache.base_dir()}: {held.entries} entries, {_megabytes(held.size)}",
        markup=False,
    )


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
