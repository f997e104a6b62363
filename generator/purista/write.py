"""Stage 7: the only code that touches a project on disk.

`new` stages a complete tree beside the target and moves it into place with one
rename. `generate` decides what to do with each file (`reconcile`) and applies it
so that a run killed at any moment leaves every file either old or new:

1. under a lock, leftovers of an interrupted run (`.purista/tmp/`) are removed;
   every path must stay inside the project and every folder written to must be
   writable, or nothing is done;
2. every new file is staged under `.purista/tmp/` (same file system, so renames
   are atomic), with the mode of the file it replaces;
3. the new manifest is written as `.purista/manifest.next.json`: while it exists,
   the files it lists count as written by purista, in their old or new version;
4. each staged file is renamed over its target (the spec first), files the spec
   no longer produces are removed;
5. the next manifest is renamed over the manifest: the run is complete.

A file that is a symbolic link is written through it: the link's target is
replaced (atomically, beside itself) and the link stays.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Collection, Iterable, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import TextIO

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
    "locked",
    "preview",
    "put",
    "read_manifest",
    "write_new",
    "write_update",
]


def write_new(
    target: Path,
    output: Output,
    version: str,
    extra: Mapping[str, bytes] | None = None,
    executable: Collection[str] = (),
) -> Report:
    """Create a whole project at `target`, which must not exist or be an empty folder.

    `extra` files (the files a spec's `$ref`s read, a team skeleton's) are written as
    they are, those in `executable` executable; purista does not manage them.
    """
    ensure_free(target)
    empty = Snapshot(Manifest(), None, {}, {})
    update = reconcile(empty, output, version, force=False)
    files = {p: t for p, t in update.files.items() if t is not None}
    files |= {base_path(p): t for p, t in update.bases.items() if t is not None}
    files[MANIFEST] = update.manifest.text()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(
            tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".purista-new", dir=target.parent)
        )
    except OSError as exc:
        raise UsageError(f"cannot create {target}: {exc.strerror}") from None
    try:
        for path, text in files.items():
            (stage / path).parent.mkdir(parents=True, exist_ok=True)
            (stage / path).write_text(text, encoding="utf-8")
        for path, data in (extra or {}).items():
            if path not in files:
                (stage / path).parent.mkdir(parents=True, exist_ok=True)
                (stage / path).write_bytes(data)
                if path in executable:
                    mode = (stage / path).stat().st_mode
                    (stage / path).chmod(mode | (mode & 0o444) >> 2)  # x wherever r
        if target.exists():
            target.rmdir()
        os.rename(stage, target)
    except OSError as exc:
        shutil.rmtree(stage, ignore_errors=True)
        raise UsageError(f"cannot create {target}: {exc.strerror}") from None
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return Report(created=sorted(set(output.files) | set(extra or ())))


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
        manifest = Manifest.parse(text)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        if name == NEXT_MANIFEST:
            advice = (
                "it is the record of an interrupted run: delete it and run purista generate "
                "again (files that run had already replaced are then listed as changed by "
                "hand; check them and run with --force)"
            )
        else:
            advice = "restore it from version control"
        raise UsageError(f"{root / name} is unreadable ({exc}); {advice}") from None
    for path in manifest.files:
        _inside(root, path, root / name)
    return manifest


def is_current(root: Path, manifest: Manifest, inputs: str) -> Report | None:
    """If the project was built from `inputs` and nothing changed since: its report, else None.

    Cheap: reads the generated files, nothing else. Merged files are read for
    conflict markers; files of yours need only exist (or stay deleted).
    """
    interrupted = (root / NEXT_MANIFEST).exists() or (root / STAGING).exists()
    if interrupted or not inputs or manifest.inputs != inputs:
        return None
    report = Report()
    for path, entry in manifest.files.items():
        if entry.deleted:
            if (root / path).exists():
                return None  # back again: the manifest must say so
            report.deleted.append(path)
            continue
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
    with locked(root):
        shutil.rmtree(root / STAGING, ignore_errors=True)
        update = reconcile(_snapshot(root, output), output, version, force=force)
        if update.report.edited:
            files = "\n  ".join(update.report.edited)
            if update.report.no_manifest:
                raise CheckFailed(
                    f"{root / MANIFEST} is missing, so purista cannot tell its own earlier "
                    "versions of these generated files from changes by hand; they differ "
                    f"from what it generates now:\n  {files}\n"
                    "check them (move any change of yours into a handler), then run again "
                    "with --force to overwrite them"
                )
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
    for path in sorted(paths):
        _inside(root, path, "the generated project")
    current = {path: _read(root / path) for path in sorted(paths)}
    merged = {p for p, o in output.owners.items() if o == "merged"}
    merged |= {p for p, e in old.files.items() if e.owner == "merged"}
    bases = {path: _read(root / base_path(path)) for path in sorted(merged)}
    bases = {path: text for path, text in bases.items() if text is not None}
    return Snapshot(old, pending, current, bases)


def _inside(root: Path, path: str, source: object) -> None:
    """Refuse a path that is absolute, climbs with `..` or leads out through a linked folder."""
    pure = PurePosixPath(path)
    outside = not path or pure.is_absolute() or ".." in pure.parts or "\\" in path
    if not outside:
        folder = (root / pure).parent.resolve()
        outside = not folder.is_relative_to(root.resolve())
    if outside:
        raise UsageError(
            f"{source} lists {path!r}, which leads outside the project {root}; "
            "purista writes and removes files only inside it: "
            "remove that entry (or the linked folder) and run again"
        )


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
    # The spec first, then the project, then the kept bases: a base is never newer than
    # its merged file, or an interrupted run would lose the generator's changes to it.
    order = [p for p in first if p in writes]
    order += sorted(p for p in writes if p not in first and not p.startswith(".purista/"))
    order += sorted(p for p in writes if p.startswith(".purista/"))
    targets = {path: _target(root / path) for path in order}
    _check_writable(root, targets, removals)
    stage = root / STAGING
    with _reported(stage):
        stage.mkdir(parents=True, exist_ok=True)
        staged = {
            path: _stage(stage, str(i), writes[path], _mode(targets[path]))
            for i, path in enumerate(order)
        }
        os.replace(_stage(stage, "manifest", manifest), root / NEXT_MANIFEST)
        _sync_dir(root / NEXT_MANIFEST)
    for path in order:
        with _reported(root / path, midway=True):
            target = targets[path]
            target.parent.mkdir(parents=True, exist_ok=True)
            if target == root / path:
                os.replace(staged[path], target)
            else:  # through a link: staged beside the link's target, which may be elsewhere
                put(target, writes[path])
    for path in removals:
        with _reported(root / path, midway=True):
            with contextlib.suppress(FileNotFoundError):
                (root / path).unlink()
            _prune(root, (root / path).parent)
    with _reported(root / MANIFEST, midway=True):
        os.replace(root / NEXT_MANIFEST, root / MANIFEST)
    _sync_dir(root / MANIFEST)
    shutil.rmtree(stage, ignore_errors=True)


def _target(path: Path) -> Path:
    """Where writing `path` lands: itself, or the file its symbolic link points to."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _mode(path: Path) -> int | None:
    """The permission bits of an existing file, kept by the file that replaces it."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None


def _check_writable(root: Path, targets: Mapping[str, Path], removals: Iterable[str]) -> None:
    """Refuse, before anything is written, a run that would stop part way on a permission."""
    folders = {root / ".purista": root / ".purista"}
    for path, target in targets.items():
        if target.is_dir():
            raise UsageError(f"cannot write {root / path}: it is a folder; nothing was changed")
        folders.setdefault(target.parent, root / path)
    for path in removals:
        if (root / path).exists() or (root / path).is_symlink():
            folders.setdefault((root / path).parent, root / path)
    for folder, file in sorted(folders.items()):
        existing = folder
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not os.access(existing, os.W_OK | os.X_OK):
            raise UsageError(
                f"cannot write {file}: the folder {existing} is not writable; nothing was changed"
            )


@contextlib.contextmanager
def _reported(path: Path, *, midway: bool = False) -> Iterator[None]:
    """An operating-system error as a message naming the file, never a traceback."""
    try:
        yield
    except OSError as exc:
        state = (
            "the run stopped part way; run purista generate again once that is fixed, "
            "it finishes the job"
            if midway
            else "nothing was changed"
        )
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}; {state}") from None


def put(path: Path, text: str) -> None:
    """Replace one file atomically (a file outside the project, such as a spec kept elsewhere).

    A symbolic link is written through: its target is replaced and the link stays; the
    file's mode is kept (a new file gets the umask's).
    """
    path = _target(path)
    mode = _mode(path)
    if mode is None:  # a new file gets what `open` would give it, not mkstemp's 0600
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".purista-tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            _fill(fh, text, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _stage(stage: Path, name: str, text: str, mode: int | None = None) -> Path:
    """Write `text` to a staged file, flushed to disk before it is renamed into place."""
    path = stage / name
    with path.open("w", encoding="utf-8", newline="") as fh:
        _fill(fh, text, mode)
    return path


def _fill(fh: TextIO, text: str, mode: int | None) -> None:
    """Write `text` to a new file with `mode` (if given), on disk before it is renamed."""
    fh.write(text)
    fh.flush()
    if mode is not None:
        os.fchmod(fh.fileno(), mode)
    os.fsync(fh.fileno())


def _sync_dir(path: Path) -> None:
    """Flush a rename: the folder holding `path`."""
    with contextlib.suppress(OSError):
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


_HELD: set[str] = set()  # the projects this process holds the lock of


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """One writer per project at a time; the lock dies with its process, even under SIGKILL.

    Re-entrant within a process: `purista add` holds it from reading the spec to the
    end of the write.
    """
    key = os.path.abspath(root)
    if key in _HELD or fcntl is None:
        yield
        return
    folder = root / ".purista"
    with _reported(folder):
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _HELD.add(key)
        yield
    finally:
        _HELD.discard(key)
        os.close(fd)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
            f"{exc.start}): purista reads and writes UTF-8; save the file as UTF-8"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def _prune(root: Path, directory: Path) -> None:
    """Remove folders left empty by removed files, up to the project root."""
    while directory != root and directory.is_relative_to(root):
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent
