"""Stage 7: the only code that touches a project on disk.

Everything is staged first; `new` moves a complete tree into place with one
rename, `generate` replaces each changed file atomically. A file's owner decides
what may happen to it; the manifest records owners and hashes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from purista.errors import CheckFailed, UsageError
from purista.plan.model import Owner

MANIFEST = ".purista/manifest.json"
BASE_DIR = ".purista/base"  # the last version of each merged file the generator wrote
BASE_SUFFIX = ".base"  # so no tool mistakes a kept copy for the project's own pyproject.toml


@dataclass(frozen=True)
class Output:
    """A project as the generator wants it: contents and owner of every file."""

    files: Mapping[str, str]
    owners: Mapping[str, Owner]


@dataclass
class Report:
    """What a write did, or would do."""

    written: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # merged files the user changed, left as they are
    edited: list[str] = field(default_factory=list)  # generated files changed by hand

    @property
    def changed(self) -> bool:
        """Whether anything on disk changed (or would change)."""
        return bool(self.written or self.created or self.removed)


def sha256(text: str) -> str:
    """The hash the manifest records for a file's contents."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def manifest_text(output: Output, version: str) -> str:
    """The manifest: owner and hash of every file, no timestamps."""
    files = {
        path: {"owner": output.owners[path], "sha256": sha256(output.files[path])}
        for path in sorted(output.files)
    }
    return json.dumps({"generator": "purista", "version": version, "files": files}, indent=2) + "\n"


def write_new(target: Path, output: Output, version: str) -> Report:
    """Create a whole project at `target`, which must not exist or be an empty folder."""
    ensure_free(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(
        tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".purista-new", dir=target.parent)
    )
    try:
        for path, text in _with_bookkeeping(output, version).items():
            (stage / path).parent.mkdir(parents=True, exist_ok=True)
            (stage / path).write_text(text, encoding="utf-8")
        if target.exists():
            target.rmdir()
        os.rename(stage, target)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return Report(created=sorted(output.files))


def ensure_free(target: Path) -> None:
    """Refuse a target that exists and is not an empty folder."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(
            f"{target} already exists and is not empty; choose another name or --output"
        )


def read_manifest(root: Path) -> dict[str, dict[str, str]]:
    """Owner and hash of every file the generator last wrote, by path."""
    try:
        data = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
        return dict(data["files"])
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(
            f"{root / MANIFEST} is unreadable ({exc}); restore it from version control"
        ) from None


def plan_update(
    root: Path, output: Output, *, force: bool = False
) -> tuple[Report, dict[str, str]]:
    """What `generate` would change in `root`: a report and the new contents by path."""
    old = read_manifest(root)
    report = Report()
    changes: dict[str, str] = {}
    for path in sorted(output.files):
        text, owner = output.files[path], output.owners[path]
        current = _read(root / path)
        if owner == "user":
            if current is None:
                report.created.append(path)
                changes[path] = text
            continue
        if current == text:
            continue
        recorded = old.get(path, {}).get("sha256")
        if owner == "generated":
            if (
                current is not None
                and recorded is not None
                and sha256(current) != recorded
                and not force
            ):
                report.edited.append(path)
                continue
        elif current is not None and recorded is not None and sha256(current) != recorded:
            report.kept.append(path)
            continue
        (report.created if current is None else report.written).append(path)
        changes[path] = text
    for path, entry in sorted(old.items()):
        if path in output.files or entry.get("owner") == "user":
            continue
        current = _read(root / path)
        if current is None:
            continue
        if sha256(current) != entry.get("sha256") and not force:
            report.edited.append(path)
            continue
        report.removed.append(path)
    return report, changes


def write_update(root: Path, output: Output, version: str, *, force: bool = False) -> Report:
    """Bring `root` up to date; a hand-edited generated file stops the run unless `force`."""
    report, changes = plan_update(root, output, force=force)
    if report.edited:
        files = "\n  ".join(report.edited)
        raise CheckFailed(
            f"generated files were edited by hand:\n  {files}\n"
            "move your changes into a handler, or run again with --force to overwrite them"
        )
    for path, text in _with_bookkeeping(output, version).items():
        if path.startswith(".purista/") and _read(root / path) != text:
            changes[path] = text
    for path, text in sorted(changes.items()):
        _put(root / path, text)
    for path in report.removed:
        (root / path).unlink()
        _prune(root, (root / path).parent)
    return report


def _with_bookkeeping(output: Output, version: str) -> dict[str, str]:
    files = dict(output.files)
    files[MANIFEST] = manifest_text(output, version)
    for path, owner in output.owners.items():
        if owner == "merged":
            files[f"{BASE_DIR}/{path}{BASE_SUFFIX}"] = output.files[path]
    return files


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _put(path: Path, text: str) -> None:
    """Write a file atomically: a reader sees the old or the new contents, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".purista-tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _prune(root: Path, directory: Path) -> None:
    """Remove folders left empty by removed files, up to the project root."""
    while directory != root and directory.is_relative_to(root):
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent
