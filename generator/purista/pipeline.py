"""The stages in order: load, validate, plan, render, models, format, write.

The stages are imported where they run: a `generate` with nothing new to do
reads the manifest and a few hashes and stops, without loading any of them.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from purista._version import __version__
from purista.errors import PuristaError, SpecError, SpecErrors
from purista.manifest import Origin
from purista.paths import RUNTIME, data_dir
from purista.write import (
    Output,
    Report,
    is_current,
    locked,
    preview,
    put,
    read_manifest,
    write_new,
    write_update,
)

if TYPE_CHECKING:
    from purista.edit import Edited
    from purista.load import LoadedSpec
    from purista.plan import Plan
    from purista.spec.models import Spec

SPEC_FILE = "purista.yaml"


@dataclass(frozen=True)
class Build:
    """A validated spec and the project it generates, not yet written."""

    spec: Spec
    plan: Plan
    output: Output
    refs: dict[str, bytes]  # the files the spec's `$ref`s read, by path from its folder


def check(loaded: LoadedSpec) -> Spec:
    """Validate a loaded spec (load and validate stages)."""
    from purista.validate import validate_spec  # noqa: PLC0415

    return validate_spec(loaded)


def plan_only(loaded: LoadedSpec) -> Plan:
    """Validate a loaded spec and plan its project (names, workers, capacity); nothing rendered."""
    from purista.plan import build_plan  # noqa: PLC0415
    from purista.validate import validate_spec  # noqa: PLC0415

    return build_plan(validate_spec(loaded), loaded.text, __version__)


def build(loaded: LoadedSpec, example: str | None = None) -> Build:
    """Every file of the project `loaded` describes, formatted; nothing is written.

    With `example`, that built-in example's working handlers replace the stubs.
    """
    from purista.format import format_files  # noqa: PLC0415
    from purista.models import models  # noqa: PLC0415
    from purista.observability import files as observability_files  # noqa: PLC0415
    from purista.plan import build_plan  # noqa: PLC0415
    from purista.render import copy_runtime, render, render_example  # noqa: PLC0415
    from purista.spec.schema import SCHEMA_FILE, json_schema_text  # noqa: PLC0415
    from purista.validate import validate_spec  # noqa: PLC0415

    refs: set[Path] = set()
    spec = validate_spec(loaded, refs)
    plan = build_plan(spec, loaded.text, __version__)
    runtime = copy_runtime(plan)
    files = render(plan) | models(plan) | observability_files(plan) | runtime
    if example is not None:
        files |= render_example(plan, example)
    if plan.routes:
        from purista.export import openapi  # noqa: PLC0415

        files[f"src/{plan.project.package}/_purista/openapi.json"] = openapi.document(spec)
    files[SPEC_FILE] = loaded.text
    files[SCHEMA_FILE] = json_schema_text()  # what the spec's editor comment points at
    files = format_files(files, verbatim=frozenset(runtime))
    owners = {f.path: f.owner for f in plan.files} | {SPEC_FILE: "user", SCHEMA_FILE: "generated"}
    folder = loaded.path.parent.resolve()
    names = tuple(sorted(ref.relative_to(folder).as_posix() for ref in refs))
    read = {name: (folder / name).read_bytes() for name in names}
    output = Output(
        files, owners, _origins(plan), plan.project.package, inputs_hash(loaded.text, read), names
    )
    return Build(spec, plan, output, read)


def new_project(
    loaded: LoadedSpec,
    target: Path,
    example: str | None = None,
    *,
    skeleton: str | None = None,
    trust: bool = False,
) -> tuple[Build, Report]:
    """Generate a new project into `target` (with a built-in example's handlers).

    The files the spec's `$ref`s read are copied beside its copy, in the same layout
    (they are all inside the spec's folder: `validate` refuses any other), so the new
    project regenerates on its own. A `skeleton` (a copier template) adds the files
    a team wants in every project; it may not write a file purista owns.
    """
    result = build(loaded, example)
    extra = dict(result.refs)
    executable: set[str] = set()
    if skeleton is not None:
        from purista.skeleton import answers_for, render_skeleton  # noqa: PLC0415

        owned = set(result.output.files) | set(extra)
        files = render_skeleton(skeleton, answers_for(result.plan), owned, trust=trust)
        extra |= {path: file.content for path, file in files.items()}
        executable = {path for path, file in files.items() if file.executable}
    return result, write_new(target, result.output, __version__, extra, executable)


def generate_project(
    root: Path, spec_path: Path | None = None, *, force: bool = False, dry_run: bool = False
) -> Report:
    """Bring the project at `root` up to date with its spec (or say what that would change).

    When the spec, the files its `$ref`s read and purista are what the project was
    built from, and every generated file is as written, nothing is rebuilt.
    """
    from purista.load import load_spec  # noqa: PLC0415

    path = spec_path or root / SPEC_FILE
    if dry_run:
        return preview(root, build(load_spec(path)).output, __version__, force=force)
    with locked(root):  # the spec read is the spec written for: no `add` in between
        if not force:
            report = unchanged(root, path)
            if report is not None:
                return report
        return write_update(root, build(load_spec(path)).output, __version__, force=force)


def edit_project(
    root: Path,
    spec_path: Path | None,
    edit: Callable[[str], Edited],
    seed: Callable[[Plan], dict[str, str]] | None = None,
) -> Report:
    """Change the spec with `edit`, then bring the project up to date in the same write.

    `seed` gives the first contents of new files of yours (by path) in place of the
    stubs: those the project does not have yet are created with them.

    The edited spec is validated and the project built before anything is written,
    so a spec the edit would make invalid stays as it was. The edited document is
    used as it is; only when it has a problem is its text parsed again, to say where,
    and each place is told on the spec as it is on disk. The project's lock is held
    from reading the spec to the end of the write, so two `add`s never lose an edit.
    """
    with locked(root):
        return _edit_locked(root, spec_path, edit, seed)


def _edit_locked(
    root: Path,
    spec_path: Path | None,
    edit: Callable[[str], Edited],
    seed: Callable[[Plan], dict[str, str]] | None,
) -> Report:
    from purista.load import (  # noqa: PLC0415
        LoadedSpec,
        Positions,
        from_document,
        parse_spec,
        read_spec,
        remember,
    )

    path = spec_path or root / SPEC_FILE
    original = read_spec(path)
    edited = edit(original)
    if edited.data is not None:
        loaded = LoadedSpec(path, edited.text, edited.data, Positions(str(path)))
    else:
        loaded = from_document(edited.document, edited.text, path)
    fresh = json.dumps(loaded.data)  # the values before validation inlines `$ref`s
    try:
        built = build(loaded)
    except SpecErrors as unlocated:
        try:
            check(parse_spec(edited.text, path))  # raises the same problems, located
        except SpecErrors as located:
            raise on_disk(located, original, edited.text) from None
        raise unlocated from None
    output = built.output
    if seed is not None:
        seeded = {p: t for p, t in seed(built.plan).items() if output.owners.get(p) == "user"}
        output = replace(output, files={**output.files, **seeded})
    remember(edited.text, json.loads(fresh))
    if path.resolve() == (root / SPEC_FILE).resolve():
        output = replace(output, rewrite=frozenset({SPEC_FILE}))
    else:  # a spec outside the project: written first, on its own
        put(path, edited.text)
    return write_update(root, output, __version__)


def on_disk(errors: SpecErrors, original: str, edited: str) -> SpecErrors:
    """Problems found in an edited spec, placed on the spec as it is on disk.

    A problem in a line the edit kept points at that line; one in a line the edit
    would add points at the line it would follow, and quotes the added line.
    """
    old = original.splitlines(keepends=True)
    new = edited.splitlines(keepends=True)
    blocks = difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
    placed = []
    for error in errors.errors:
        index = min(max(error.line - 1, 0), max(len(new) - 1, 0))
        tag, i1, _, j1, _ = next(
            (b for b in blocks if b[3] <= index < b[4]), ("insert", len(old), 0, index, index)
        )
        if tag == "equal":
            placed.append(replace(error, line=i1 + index - j1 + 1))
            continue
        added = new[index].strip() if index < len(new) else ""
        after = f"after line {i1}" if i1 else "at the top"
        message = (
            f"{error.message} (in `{added}`, which `purista add` would write {after}; "
            "the spec was not changed)"
        )
        placed.append(SpecError(error.file, max(i1, 1), 1, error.path, message))
    return SpecErrors(placed)


def inputs_hash(spec_text: str, refs: dict[str, bytes]) -> str:
    """What a project is built from: the spec, the files it refers to, and purista."""
    digest = hashlib.sha256(f"purista {__version__}\n{_templates_hash()}\n".encode())
    digest.update(hashlib.sha256(spec_text.encode("utf-8")).digest())
    for name, content in sorted(refs.items()):
        digest.update(f"\n{name}\n".encode())
        digest.update(hashlib.sha256(content).digest())
    return digest.hexdigest()


@cache
def _templates_hash() -> str:
    """A hash of every template and runtime module, so a change to either is a changed input."""
    digest = hashlib.sha256()
    for root, pattern in ((data_dir("templates"), "*"), (RUNTIME, "*.py")):
        for path in sorted(p for p in root.rglob(pattern) if p.is_file()):
            digest.update(f"{root.name}/{path.relative_to(root).as_posix()}\n".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def unchanged(root: Path, spec: Path) -> Report | None:
    """The report of a run with nothing to do, or None if the project must be rebuilt."""
    try:
        text = spec.read_bytes().decode("utf-8")
        manifest = read_manifest(root)
        refs = {name: (spec.parent / name).read_bytes() for name in manifest.refs}
    except (OSError, UnicodeDecodeError, PuristaError):
        return None  # the full run reports what is wrong
    return is_current(root, manifest, inputs_hash(text, refs))


def _origins(plan: Plan) -> dict[str, Origin]:
    """The handler (or test) each file of yours was created for."""
    out: dict[str, Origin] = {}
    for file in plan.files:
        if file.owner != "user" or file.service is None or file.handler is None:
            continue
        service = plan.service(file.service, file.version)
        handler = next(h for h in service.handlers if h.name == file.handler)
        role = "test" if file.path == handler.test_path else "handler"
        out[file.path] = Origin(handler.kind, service.name, service.version, handler.name, role)
    return out
