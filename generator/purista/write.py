"""Stage 7: the only code that touches a project on disk.

`new` stages a complete tree beside the target and moves it into place with one
rename. `generate` decides what to do with each file (`reconcile`) and applies it
so that a run killed at any moment leaves every file either old or new:

1. under a lock, leftovers of an interrupted run (`.purista/tmp/`) are removed;
2. every new file is staged under `.purista/tmp/` (same file system, so renames
   are atomic);
3. the new manifest is written as `.purista/manifest.next.json`: while it exists,
   the files it lists count as written by purista, in their old or new version;
4. each staged file is renamed over its target (the spec first), files the spec
   no longer produces are removed;
5. the next manifest is renamed over the manifest: the run is complete.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from purista.errors import CheckFailed, UsageError
from purista.manifest import MANIFEST, Manifest, base_path, sha256
from purista.merge import has_conflict_markers
from purista.reconcile import Orphan, Output, Report, Snapshot, Update, explain_moves, reconcile

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows
    fcntl = None  # type: ignore[assignment]

NEXT_MANIFEST = ".purista/manifest.next.json"
STAGING = ".purista/tmp"

__all__ = [
    "Output",
    "Report",
    "ensure_free",
    "is_current",
    "preview",
    "put",
    "read_manifest",
    "write_new",
    "write_update",
]


def write_new(target: Path, output: Output, version: str) -> Report:
    """Create a whole project at `target`, which must not exist or be an empty folder."""
    ensure_free(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(
        tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".purista-new", dir=target.parent)
    )
    empty = Snapshot(Manifest(), None, {}, {})
    update = reconcile(empty, output, version, force=False)
    files = {p: t for p, t in update.files.items() if t is not None}
    files |= {base_path(p): t for p, t in update.bases.items() if t is not None}
    files[MANIFEST] = update.manifest.text()
    try:
        for path, text in files.items():
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


def read_manifest(root: Path, name: str = MANIFEST) -> Manifest:
    """The manifest of the project at `root` (empty if there is none)."""
    text = _read(root / name)
    if text is None:
        return Manifest()
    try:
        return Manifest.parse(text)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(
            f"{root / name} is unreadable ({exc}); restore it from version control"
        ) from None


def is_current(root: Path, manifest: Manifest, inputs: str) -> Report | None:
    """If the project was built from `inputs` and nothing changed since: its report, else None.

    Cheap: reads the generated files, nothing else. Merged files are read for
    conflict markers; files of yours need only exist.
    """
    interrupted = (root / NEXT_MANIFEST).exists() or (root / STAGING).exists()
    if interrupted or not inputs or manifest.inputs != inputs:
        return None
    report = Report()
    for path, entry in manifest.files.items():
        if entry.owner == "user":
            if not (root / path).is_file():
                return None
            if entry.orphan:
                report.orphans.append(Orphan(path, entry.origin, entry.counterpart))
            continue
        text = _read(root / path)
        stale = text is None or (entry.owner == "generated" and sha256(text) != entry.sha256)
        if stale or (entry.owner == "merged" and has_conflict_markers(text or "")):
            return None
    origins = {p: e.origin for p, e in manifest.files.items() if e.origin is not None}
    report.notes.extend(explain_moves(report.orphans, origins))
    return report


def preview(root: Path, output: Output, version: str, *, force: bool = False) -> Report:
    """What `write_update` would do, with the contents before and after; nothing is written."""
    return reconcile(_snapshot(root, output), output, version, force=force).report


def write_update(root: Path, output: Output, version: str, *, force: bool = False) -> Report:
    """Bring `root` up to date; a hand-edited generated file stops the run unless `force`."""
    with _locked(root):
        shutil.rmtree(root / STAGING, ignore_errors=True)
        update = reconcile(_snapshot(root, output), output, version, force=force)
        if update.report.edited:
            files = "\n  ".join(update.report.edited)
            raise CheckFailed(
                f"generated files were changed by hand:\n  {files}\n"
                "move your changes into a handler, or run again with --force to overwrite them"
            )
        _apply(root, update, first=sorted(output.rewrite))
    return update.report


def _snapshot(root: Path, output: Output) -> Snapshot:
    old = read_manifest(root)
    pending = read_manifest(root, NEXT_MANIFEST) if (root / NEXT_MANIFEST).exists() else None
    paths = set(output.files) | set(old.files) | set(pending.files if pending else ())
    current = {path: _read(root / path) for path in sorted(paths)}
    merged = {p for p, o in output.owners.items() if o == "merged"}
    merged |= {p for p, e in old.files.items() if e.owner == "merged"}
    bases = {path: _read(root / base_path(path)) for path in sorted(merged)}
    bases = {path: text for path, text in bases.items() if text is not None}
    return Snapshot(old, pending, current, bases)


def _apply(root: Path, update: Update, first: list[str]) -> None:
    """Write an update so that an interruption leaves each file old or new (see the module)."""
    writes = {p: t for p, t in update.files.items() if t is not None}
    writes |= {base_path(p): t for p, t in update.bases.items() if t is not None}
    removals = [p for p, t in update.files.items() if t is None]
    removals += [base_path(p) for p, t in update.bases.items() if t is None]
    manifest = update.manifest.text()
    pending = (root / NEXT_MANIFEST).exists()
    if not writes and not removals and not pending and _read(root / MANIFEST) == manifest:
        return
    stage = root / STAGING
    stage.mkdir(parents=True, exist_ok=True)
    # The spec first, then the project, then the kept bases: a base is never newer than
    # its merged file, or an interrupted run would lose the generator's changes to it.
    order = [p for p in first if p in writes]
    order += sorted(p for p in writes if p not in first and not p.startswith(".purista/"))
    order += sorted(p for p in writes if p.startswith(".purista/"))
    staged = {path: _stage(stage, str(i), writes[path]) for i, path in enumerate(order)}
    os.replace(_stage(stage, "manifest", manifest), root / NEXT_MANIFEST)
    _sync_dir(root / NEXT_MANIFEST)
    for path in order:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged[path], root / path)
    for path in removals:
        with contextlib.suppress(FileNotFoundError):
            (root / path).unlink()
        _prune(root, (root / path).parent)
    os.replace(root / NEXT_MANIFEST, root / MANIFEST)
    _sync_dir(root / MANIFEST)
    shutil.rmtree(stage, ignore_errors=True)


def put(path: Path, text: str) -> None:
    """Replace one file atomically (a file outside the project, such as a spec kept elsewhere)."""
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


def _stage(stage: Path, name: str, text: str) -> Path:
    """Write `text` to a staged file, flushed to disk before it is renamed into place."""
    path = stage / name
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    return path


def _sync_dir(path: Path) -> None:
    """Flush a rename: the folder holding `path`."""
    with contextlib.suppress(OSError):
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One writer per project at a time; the lock dies with its process, even under SIGKILL."""
    folder = root / ".purista"
    folder.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def _prune(root: Path, directory: Path) -> None:
    """Remove folders left empty by removed files, up to the project root."""
    while directory != root and directory.is_relative_to(root):
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent
