"""The team skeleton: a copier template rendered once over a new project.

It holds the files a team wants in every project and purista does not generate (a CI
workflow, pre-commit, CODEOWNERS, a licence). purista renders it into a scratch folder
of its own, refuses any file purista owns, and hands the rest to the new project's
write; `purista generate` never looks at them again.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from purista._version import __version__
from purista.errors import UsageError
from purista.paths import data_dir

if TYPE_CHECKING:
    from purista.plan import Plan

#: The built-in skeleton, used when `purista new` is given neither `--skeleton` nor
#: `--no-skeleton`: a CI workflow and a pre-commit configuration.
BUILTIN = "builtin"

#: Folders purista keeps for itself, whatever is in them.
_OWNED_FOLDERS = (".purista/",)


@dataclass(frozen=True)
class SkeletonFile:
    """One file of a rendered skeleton, and whether it is executable."""

    content: bytes
    executable: bool = False


def render_skeleton(
    source: str,
    answers: Mapping[str, Any],
    owned: Collection[str],
    *,
    trust: bool = False,
) -> dict[str, SkeletonFile]:
    """The files the copier template `source` renders for a project, by relative path.

    `source` is a folder, a git URL or `BUILTIN`. The template's tasks, migrations and
    Jinja extensions run only with `trust`. A file at a path purista owns (`owned`, or
    anything under `.purista/`) is refused: nothing is written.
    """
    import copier  # noqa: PLC0415  (slow to import; only when a skeleton is rendered)
    from copier.errors import CopierError, UnsafeTemplateError  # noqa: PLC0415

    template = str(data_dir("templates") / "skeleton") if source == BUILTIN else source
    data = {**answers, "purista_version": __version__, "ruff_version": version("ruff")}
    with tempfile.TemporaryDirectory(prefix="purista-skeleton-") as scratch:
        try:
            copier.run_copy(
                template,
                scratch,
                data=data,
                defaults=True,
                overwrite=True,
                quiet=True,
                unsafe=trust,
                skip_tasks=not trust,
                cleanup_on_error=False,
            )
        except UnsafeTemplateError as exc:
            first = str(exc).splitlines()[0].removeprefix("Template uses ")
            raise UsageError(
                f"the skeleton {source} uses {first[:-1]}, which run its own code: "
                "pass --trust if you trust it"
            ) from None
        except (CopierError, OSError, ValueError) as exc:
            problem = " ".join(str(exc).split())
            raise UsageError(f"the skeleton {source} cannot be rendered: {problem}") from None
        files = _collect(Path(scratch))
    refused = sorted(p for p in files if p in owned or p.startswith(_OWNED_FOLDERS))
    if refused:
        raise UsageError(
            f"the skeleton {source} writes files purista owns: {', '.join(refused)}; "
            "remove them from the skeleton (purista generates them)"
        )
    return files


def answers_for(plan: Plan) -> dict[str, Any]:
    """What purista tells every skeleton about the project."""
    return {  # plain `str`s: copier writes the answers as YAML
        "project_name": str(plan.project.name),
        "package": str(plan.project.package),
        "description": str(plan.project.description),
        "services": [{"name": str(s.name), "version": int(s.version)} for s in plan.services],
    }


def _collect(root: Path) -> dict[str, SkeletonFile]:
    """Every file under `root` (its `.git`, if a task made one, included), by posix path."""
    out: dict[str, SkeletonFile] = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            if path.is_symlink():
                raise UsageError(f"the skeleton renders a symbolic link, {path.relative_to(root)}")
            relative = PurePosixPath(path.relative_to(root).as_posix())
            with contextlib.suppress(OSError):
                executable = os.access(path, os.X_OK)
                out[str(relative)] = SkeletonFile(path.read_bytes(), executable)
    return out
