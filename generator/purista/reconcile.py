"""What `generate` does to each file, decided by its owner; no disk access here.

`write` reads the project, hands this module a snapshot, and applies what comes
back. Generated files are replaced unless changed by hand; merged files get the
generator's changes by a three-way merge against the version it last wrote;
files that are yours are created once and never touched again, and named as
orphans when their part of the spec is gone. A file of yours or a merged file
that you deleted stays deleted (and is reported) until `--force` creates it again.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field

from purista.manifest import Entry, Manifest, Origin, Owner, sha256
from purista.merge import diff, has_conflict_markers, merge3


@dataclass(frozen=True)
class Output:
    """A project as the generator wants it: contents and owner of every file."""

    files: Mapping[str, str]
    owners: Mapping[str, Owner]
    origins: Mapping[str, Origin] = field(default_factory=dict)
    package: str = ""
    inputs: str = ""  # hash of everything the files were built from
    refs: tuple[str, ...] = ()
    rewrite: frozenset[str] = frozenset()  # files of yours this run changes for you (the spec)


@dataclass(frozen=True)
class Orphan:
    """A file of yours whose command, subscription or queue left the spec."""

    path: str
    origin: Origin | None
    counterpart: str | None  # where the same handler lives now (a new version or package)

    def __str__(self) -> str:
        what = f" ({self.origin}, no longer in the spec)" if self.origin else ""
        where = f"; its counterpart is {self.counterpart}" if self.counterpart else ""
        return f"{self.path}{what}{where}"


@dataclass
class Report:
    """What a write did, or would do."""

    written: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)  # written with your changes kept
    conflicts: list[str] = field(default_factory=list)  # written with conflict markers
    unresolved: list[str] = field(default_factory=list)  # markers of an earlier run still there
    kept: list[str] = field(default_factory=list)  # no longer generated, but changed by you
    edited: list[str] = field(default_factory=list)  # generated files changed by hand
    deleted: list[str] = field(default_factory=list)  # files you deleted, not created again
    no_manifest: bool = False  # no manifest: `edited` files may be older generated versions
    orphans: list[Orphan] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    before: dict[str, str | None] = field(default_factory=dict)  # of each changed file
    after: dict[str, str | None] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        """Whether any file of the project changed (or would change)."""
        return bool(self.written or self.created or self.removed)

    @property
    def failed(self) -> bool:
        """Whether the run needs you: a hand edit, or a conflict to resolve."""
        return bool(self.edited or self.conflicts or self.unresolved)

    def lines(self, *, would: bool) -> list[str]:
        """The report as printed: notes, then each file and what happened (or would) to it."""
        verbs = (
            ("would write", "would create", "would remove")
            if would
            else ("wrote", "created", "removed")
        )
        out = list(self.notes)
        merges = set(self.merged) | set(self.conflicts)
        written = [path for path in self.written if path not in merges]
        for verb, paths in zip(verbs, (written, self.created, self.removed), strict=True):
            out.extend(f"{verb} {path}" for path in paths)
        merged = "would merge" if would else "merged"
        out.extend(f"{merged} {path} (your changes kept)" for path in self.merged)
        conflict = "would conflict" if would else "conflict"
        out.extend(f"{conflict} in {path}" for path in self.conflicts)
        out.extend(f"unresolved conflict in {path}; not updated" for path in self.unresolved)
        out.extend(f"kept {path} (no longer generated; changed by you)" for path in self.kept)
        label = "differs (no manifest to tell)" if self.no_manifest else "edited by hand"
        out.extend(f"{label}: {path}" for path in self.edited)
        out.extend(
            f"kept deleted: {path} (you deleted it; generate --force creates it again)"
            for path in self.deleted
        )
        out.extend(f"orphan: {orphan}" for orphan in self.orphans)
        if not (self.changed or self.failed or self.kept):
            out.append("up to date")
        return out

    def diff(self) -> str:
        """A unified diff of every change, as `--dry-run` prints it."""
        out: list[str] = []
        for path in sorted(self.after):
            old, new = self.before.get(path), self.after[path]
            out.extend(
                difflib.unified_diff(
                    (old or "").splitlines(keepends=True),
                    (new or "").splitlines(keepends=True),
                    f"a/{path}" if old is not None else "/dev/null",
                    f"b/{path}" if new is not None else "/dev/null",
                )
            )
            if out and not out[-1].endswith("\n"):
                out[-1] += "\n\\ No newline at end of file\n"
        return "".join(out)


@dataclass(frozen=True)
class Update:
    """Everything a run changes: project files, then the bookkeeping under `.purista/`."""

    report: Report
    files: dict[str, str | None]  # new contents, or None to remove
    bases: dict[str, str | None]
    manifest: Manifest


@dataclass(frozen=True)
class Snapshot:
    """The project as it is: the manifest, an interrupted run's manifest, file contents."""

    old: Manifest
    pending: Manifest | None  # the manifest an interrupted run was about to write
    current: Mapping[str, str | None]  # every path of the output and of both manifests
    bases: Mapping[str, str | None]  # by merged file's path

    def accepted(self, path: str) -> set[str]:
        """Hashes of the versions the generator wrote to `path` (last run, interrupted run)."""
        hashes = set()
        for manifest in (self.old, self.pending):
            entry = manifest.files.get(path) if manifest else None
            if entry is not None:
                hashes.add(entry.sha256)
        return hashes


def reconcile(snapshot: Snapshot, output: Output, version: str, *, force: bool) -> Update:
    """Decide, per file and by its owner, what this run writes, merges, keeps or reports."""
    work = _Work(snapshot, output, force)
    work.report.no_manifest = not snapshot.old.files and snapshot.pending is None
    for path in sorted(output.files):
        work.place(path)
    known = dict(snapshot.pending.files) if snapshot.pending else {}
    known |= snapshot.old.files
    for path, entry in sorted(known.items()):
        if path not in output.files:
            work.retire(path, entry)
    work.explain(snapshot.old.package)
    manifest = Manifest(
        version=version,
        inputs=output.inputs,
        refs=output.refs,
        package=output.package,
        files=work.entries,
    )
    for path in list(snapshot.bases):
        if path not in output.files or output.owners[path] != "merged":
            work.bases[path] = None
    return Update(work.report, work.files, work.bases, manifest)


class _Work:
    """The decisions of one run, gathered file by file."""

    def __init__(self, snapshot: Snapshot, output: Output, force: bool) -> None:
        self.snap = snapshot
        self.out = output
        self.force = force
        self.report = Report()
        self.files: dict[str, str | None] = {}
        self.bases: dict[str, str | None] = {}
        self.entries: dict[str, Entry] = {}

    def change(self, path: str, text: str | None) -> None:
        before = self.snap.current.get(path)
        self.files[path] = text
        self.report.before[path] = before
        self.report.after[path] = text
        if text is None:
            self.report.removed.append(path)
        elif before is None:
            self.report.created.append(path)
        else:
            self.report.written.append(path)

    def place(self, path: str) -> None:
        """A file the generator produces: create, replace, merge or leave it."""
        text, owner = self.out.files[path], self.out.owners[path]
        current = self.snap.current.get(path)
        self.entries[path] = Entry(owner, sha256(text), self.out.origins.get(path))
        if owner == "user":
            created = self.snap.old.files.get(path)
            if current is None and self.was_deleted(path, "user"):
                return
            if current is not None and created is not None and created.owner == "user":
                # the hash of the version it was created with, whatever the stub is today
                self.entries[path] = Entry(owner, created.sha256, self.out.origins.get(path))
            if current is None or (path in self.out.rewrite and current != text):
                self.change(path, text)
        elif owner == "generated":
            self.replace(path, text, current)
        else:
            self.merge(path, text, current)

    def was_deleted(self, path: str, owner: Owner) -> bool:
        """Whether you deleted a file an earlier run created: it is kept deleted, and said so."""
        old = self.snap.old.files.get(path)
        if self.force or path in self.out.rewrite or old is None or old.owner != owner:
            return False
        if old.orphan:  # deleted while its part was gone: a new part gets a new file
            return False
        self.entries[path] = Entry(owner, old.sha256, self.out.origins.get(path), deleted=True)
        self.report.deleted.append(path)
        return True

    def replace(self, path: str, text: str, current: str | None) -> None:
        if current == text:
            return
        if (
            current is not None
            and not self.force
            and sha256(current) not in self.snap.accepted(path)
        ):
            self.report.edited.append(path)
            return
        self.change(path, text)

    def merge(self, path: str, theirs: str, current: str | None) -> None:
        """Three-way: the last version written, yours, and the generator's new one."""
        base = self.snap.bases.get(path)
        old = self.snap.old.files.get(path)
        if current is None and self.was_deleted(path, "merged"):
            return
        if base is not None and sha256(base) not in self.snap.accepted(path):
            base = None  # a kept copy that matches no manifest cannot be trusted
        if current is not None and has_conflict_markers(current):
            self.report.unresolved.append(path)
            if old is not None:  # keep the old base: its changes are not applied yet
                self.entries[path] = Entry("merged", old.sha256)
            return
        if self.snap.bases.get(path) != theirs:
            self.bases[path] = theirs
        if current == theirs:
            return
        written = current is not None and (
            sha256(current) in self.snap.accepted(path) or current == self.snap.bases.get(path)
        )  # a version purista wrote: listed in a manifest, or its kept copy (no manifest)
        if current is None or (base is None and written):
            self.change(path, theirs)
            return
        if base is None:  # nothing to tell the two sides' changes apart: keep what both share
            lines = current.splitlines(keepends=True)
            base = "".join(lines[i] for i, _ in diff(lines, theirs.splitlines(keepends=True)))
        result = merge3(base, current, theirs)
        if result.text == current:
            return
        self.change(path, result.text)
        if result.conflicts:
            self.report.conflicts.append(path)
        elif result.text != theirs:
            self.report.merged.append(path)

    def retire(self, path: str, entry: Entry) -> None:
        """A file of an earlier run that the spec no longer produces."""
        current = self.snap.current.get(path)
        if current is None:
            return
        if entry.owner == "user":
            counterpart = None
            if entry.origin is not None:
                counterpart = next(
                    (
                        p
                        for p, o in sorted(self.out.origins.items())
                        if o.same_part(entry.origin) and p != path
                    ),
                    None,
                )
            self.report.orphans.append(Orphan(path, entry.origin, counterpart))
            self.entries[path] = Entry("user", entry.sha256, entry.origin, True, counterpart)
            return
        unchanged = sha256(current) in self.snap.accepted(path)
        if entry.owner == "generated" and not unchanged and not self.force:
            self.report.edited.append(path)
        elif entry.owner == "merged" and not unchanged:
            self.report.kept.append(path)
        else:
            self.change(path, None)

    def explain(self, old_package: str) -> None:
        """Say what happened to the old files when the package or a service's version changed."""
        new_package = self.out.package
        if old_package and new_package and old_package != new_package:
            self.report.notes.append(
                f"the package is now `{new_package}` (was `{old_package}`): the generated files "
                f"under src/{old_package}/ were removed, your handlers there were left in place "
                f"(orphans below, each with its counterpart under src/{new_package}/); "
                f"your tests under tests/ still import `{old_package}`: change those imports"
            )
        self.report.notes.extend(explain_moves(self.report.orphans, self.out.origins))


def explain_moves(orphans: list[Orphan], origins: Mapping[str, Origin]) -> list[str]:
    """One line per service whose version changed, about the files of yours it left behind.

    A version still live beside the new one (versions side by side) has not moved:
    its orphans are handlers that left it, said as such.
    """
    live = {(o.service, o.version) for o in origins.values()}
    moves: dict[tuple[str, int, int], int] = {}
    for orphan in orphans:
        new = origins.get(orphan.counterpart) if orphan.counterpart else None
        if orphan.origin is not None and (orphan.origin.service, orphan.origin.version) in live:
            continue
        if orphan.origin is not None and new is not None and new.version != orphan.origin.version:
            key = (new.service, orphan.origin.version, new.version)
            moves[key] = moves.get(key, 0) + 1
    return [
        f"service {service} is now v{new} (was v{old}): the generated files of v{old} were "
        f"removed; your {count} file(s) of v{old} stay where they are (orphans below): move "
        f"your code into their v{new} counterparts, then delete them"
        for (service, old, new), count in sorted(moves.items())
    ]


__all__ = ["Orphan", "Output", "Report", "Snapshot", "Update", "explain_moves", "reconcile"]
