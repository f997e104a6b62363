"""The stages in order: load, validate, plan, render, models, format, write."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from purista._version import __version__
from purista.format import format_files
from purista.load import LoadedSpec, load_spec
from purista.models import models
from purista.plan import Plan, build_plan
from purista.render import render, render_example
from purista.spec.models import Spec
from purista.validate import validate_spec
from purista.write import Output, Report, write_new, write_update

SPEC_FILE = "purista.yaml"


@dataclass(frozen=True)
class Build:
    """A validated spec and the project it generates, not yet written."""

    spec: Spec
    plan: Plan
    output: Output


def check(loaded: LoadedSpec) -> Spec:
    """Validate a loaded spec (load and validate stages)."""
    return validate_spec(loaded)


def plan_only(loaded: LoadedSpec) -> Plan:
    """Validate a loaded spec and plan its project (names, workers, capacity); nothing rendered."""
    return build_plan(validate_spec(loaded), loaded.text, __version__)


def build(loaded: LoadedSpec, example: str | None = None) -> Build:
    """Every file of the project `loaded` describes, formatted; nothing is written.

    With `example`, that built-in example's working handlers replace the stubs.
    """
    spec = validate_spec(loaded)
    plan = build_plan(spec, loaded.text, __version__)
    files = render(plan) | models(plan)
    if example is not None:
        files |= render_example(plan, example)
    files[SPEC_FILE] = loaded.text
    files = format_files(files)
    owners = {f.path: f.owner for f in plan.files} | {SPEC_FILE: "user"}
    return Build(spec, plan, Output(files, owners))


def new_project(
    loaded: LoadedSpec, target: Path, example: str | None = None
) -> tuple[Build, Report]:
    """Generate a new project into `target` (with a built-in example's handlers)."""
    result = build(loaded, example)
    return result, write_new(target, result.output, __version__)


def generate_project(
    root: Path, spec_path: Path | None = None, *, force: bool = False
) -> tuple[Build, Report]:
    """Bring the project at `root` up to date with its spec."""
    result = build(load_spec(spec_path or root / SPEC_FILE))
    return result, write_update(root, result.output, __version__, force=force)
