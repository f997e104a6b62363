"""The manifest (`.purista/manifest.json`): owner and hash of every file the generator wrote.

It also records what the project was built from (a hash of the inputs, so a run
with nothing new can stop early), the project's package, and, for each file that
is yours, the command, subscription or queue it belongs to, so a file whose part
of the spec is gone can be named as an orphan with what it was. A file of yours
(or a merged file) that you deleted stays listed, marked deleted, so it is not
created again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Owner = Literal["generated", "user", "merged"]

MANIFEST = ".purista/manifest.json"
BASE_DIR = ".purista/base"  # the last version of each merged file the generator wrote
BASE_SUFFIX = ".base"  # so no tool mistakes a kept copy for the project's own pyproject.toml


def sha256(text: str) -> str:
    """The hash the manifest records for a file's contents."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def base_path(path: str) -> str:
    """Where the generator's last version of the merged file `path` is kept."""
    return f"{BASE_DIR}/{path}{BASE_SUFFIX}"


@dataclass(frozen=True, order=True)
class Origin:
    """The part of the spec a user-owned file was created for."""

    kind: str  # command, subscription or queue
    service: str
    version: int
    name: str
    role: str  # handler or test

    def __str__(self) -> str:
        what = f"{self.kind} {self.service}.v{self.version}.{self.name}"
        return f"the test of {what}" if self.role == "test" else what

    def same_part(self, other: Origin) -> bool:
        """The same handler (or its test) of the same service, whatever the version."""
        return (self.kind, self.service, self.name, self.role) == (
            other.kind,
            other.service,
            other.name,
            other.role,
        )


@dataclass(frozen=True)
class Entry:
    """What the manifest says about one file."""

    owner: Owner
    sha256: str
    origin: Origin | None = None
    orphan: bool = False
    counterpart: str | None = None  # of an orphan: where its handler lives now
    deleted: bool = False  # a file of yours (or a merged one) you deleted: not created again

    def to_json(self) -> dict[str, Any]:
        """The entry as the manifest stores it."""
        out: dict[str, Any] = {"owner": self.owner, "sha256": self.sha256}
        if self.origin is not None:
            o = self.origin
            out["of"] = {"kind": o.kind, "service": o.service, "version": o.version}
            out["of"] |= {"name": o.name, "role": o.role}
        if self.orphan:
            out["orphan"] = True
        if self.counterpart:
            out["counterpart"] = self.counterpart
        if self.deleted:
            out["deleted"] = True
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Entry:
        """Read an entry back; a missing or odd `of` is no origin."""
        of = data.get("of")
        origin = None
        if isinstance(of, dict):
            try:
                origin = Origin(
                    str(of["kind"]),
                    str(of["service"]),
                    int(of["version"]),
                    str(of["name"]),
                    str(of["role"]),
                )
            except (KeyError, TypeError, ValueError):
                origin = None
        owner = data["owner"]
        if owner not in ("generated", "user", "merged"):
            raise ValueError(f"unknown owner {owner!r}")
        counterpart = data.get("counterpart")
        return cls(
            owner,
            str(data["sha256"]),
            origin,
            bool(data.get("orphan", False)),
            str(counterpart) if counterpart else None,
            bool(data.get("deleted", False)),
        )


@dataclass(frozen=True)
class Manifest:
    """The whole manifest: files by path, and what the project was built from."""

    version: str = ""
    inputs: str = ""
    refs: tuple[str, ...] = ()  # files next to the spec that its `$ref`s read
    package: str = ""
    files: Mapping[str, Entry] = field(default_factory=dict)

    def text(self) -> str:
        """The manifest as written: sorted, no timestamps, so equal projects give equal text."""
        data: dict[str, Any] = {"generator": "purista", "version": self.version}
        if self.inputs:
            data["inputs"] = {"sha256": self.inputs, "refs": list(self.refs)}
        if self.package:
            data["package"] = self.package
        data["files"] = {path: self.files[path].to_json() for path in sorted(self.files)}
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def parse(cls, text: str) -> Manifest:
        """Read a manifest; `ValueError`, `KeyError` or `TypeError` if it is malformed."""
        data = json.loads(text)
        inputs = data.get("inputs") or {}
        return cls(
            version=str(data.get("version", "")),
            inputs=str(inputs.get("sha256", "")),
            refs=tuple(str(r) for r in inputs.get("refs", ())),
            package=str(data.get("package", "")),
            files={str(p): Entry.from_json(e) for p, e in dict(data["files"]).items()},
        )
