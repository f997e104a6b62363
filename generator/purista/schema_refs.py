"""`$ref`s of payload, output and event schemas: files inlined, fragments and anchors resolved.

Each problem is located where it is written: in the spec, or in the `$ref` file at
its own line. A schema that comes out of here has no reference left that the models
stage could not follow: only `#/...` pointers into the spec's own schema.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from purista.errors import SpecError, SpecErrors
from purista.load import MAX_SPEC_BYTES, Path_, Positions, decode, parse_document
from purista.spec import pointer

MAX_DEPTH = 20


@dataclass(frozen=True)
class Located(Positions):
    """The spec's positions, and for each part inlined from a file, that file's positions."""

    origins: Mapping[Path_, tuple[Positions, Path_]] = field(default_factory=dict)

    def error(self, path: Path_, message: str, *, at_key: bool = False) -> SpecError:
        """An error at `path`: in the `$ref` file its part came from, or in the spec."""
        for end in range(len(path), -1, -1):
            origin = self.origins.get(path[:end])
            if origin is not None:
                positions, inner = origin
                return positions.error((*inner, *path[end:]), message, at_key=at_key)
        return super().error(path, message, at_key=at_key)


@dataclass(frozen=True)
class _Doc:
    """A `$ref` file as loaded: its name in messages, values, positions and the files above it."""

    name: str
    data: Any
    positions: Positions
    path: Path
    chain: tuple[Path, ...]


@dataclass(frozen=True)
class _At:
    """Where a schema part is: its path in the spec, and its file and path there, if any."""

    path: Path_
    doc: _Doc | None
    inner: Path_
    base: Path

    def child(self, key: str | int) -> _At:
        return _At((*self.path, key), self.doc, (*self.inner, key), self.base)


class RefInliner:
    """Replaces `$ref`s to files next to the spec by what they point at; checks the others."""

    def __init__(
        self, base: Path, pos: Positions, errors: list[SpecError], read: set[Path]
    ) -> None:
        self.root = base.resolve()
        self.pos = pos
        self.errors = errors
        self.read = read
        self.origins: dict[Path_, tuple[Positions, Path_]] = {}
        self.positions = Located(pos.file, pos.keys, pos.values, self.origins)
        self._loaded: dict[Path, _Doc | list[SpecError]] = {}

    def inline(self, schema: Any, path: Path_, base: Path) -> Any:
        """`schema` (at `path` in the spec), file `$ref`s replaced and `#` ones checked."""
        inlined = self._inline(schema, _At(path, None, (), base), frozenset())
        return self._local(inlined, inlined, path)

    def _inline(self, node: Any, at: _At, active: frozenset[tuple[Path, str]]) -> Any:
        if isinstance(node, list):
            return [self._inline(item, at.child(i), active) for i, item in enumerate(node)]
        if not isinstance(node, dict):
            return node
        siblings = {k: self._inline(v, at.child(k), active) for k, v in node.items() if k != "$ref"}
        ref = node.get("$ref")
        if not isinstance(ref, str):
            return siblings
        if ref.startswith("#") and at.doc is None:  # into the spec's own schema: see `_local`
            return {**siblings, "$ref": ref}
        found = self._target(ref, at, active)
        if found is None:
            return siblings
        doc, target, inner = found
        self.origins[at.path] = (doc.positions, inner)
        key = (doc.path, ref.partition("#")[2])
        inlined = self._inline(target, _At(at.path, doc, inner, doc.path.parent), active | {key})
        return {**inlined, **siblings}

    def _target(
        self, ref: str, at: _At, active: frozenset[tuple[Path, str]]
    ) -> tuple[_Doc, dict[str, Any], Path_] | None:
        """The document a `$ref` names, what it points at there and its path; or None, reported."""
        file_part, _, fragment = ref.partition("#")
        doc = at.doc
        if not ref.strip():
            problem = (
                "`$ref` is empty; name a file next to the spec (`common.yaml#/$defs/Address`) "
                "or a place in this schema (`#/$defs/Address`)"
            )
        elif file_part and (doc := self._load(file_part, at)) is None:
            return None
        elif doc is None:  # unreachable: a `#` reference of the spec is kept as it is
            return None
        elif (doc.path, fragment) in active:
            problem = (
                f"`$ref` {ref!r} refers to itself; a recursive schema must be written in the "
                "spec, under the schema's own `$defs`"
            )
        elif (found := _find(doc.data, fragment)) is None:
            problem = f"`$ref` {ref!r}: {doc.name} has nothing at `#{fragment}`"
        elif not isinstance(found[0], dict):
            problem = f"`$ref` {ref!r} does not point at a schema object"
        else:
            return doc, found[0], found[1]
        self._fail(at, problem)
        return None

    def _load(self, ref: str, at: _At) -> _Doc | None:
        target = (at.base / unquote(ref)).resolve()
        chain = at.doc.chain if at.doc else ()
        problem = None
        if "://" in ref or ref.startswith("/"):
            problem = f"`$ref` must name a file next to the spec, not {ref!r}"
        elif not target.is_relative_to(self.root):
            problem = f"`$ref` {ref!r} points outside the spec's folder"
        elif target in chain:
            names = " → ".join(self._name(p) for p in (*chain, target))
            problem = f"`$ref` files refer to each other in a cycle: {names}"
        elif len(chain) >= MAX_DEPTH:
            problem = f"`$ref`s nest more than {MAX_DEPTH} files deep"
        if problem is not None:
            self._fail(at, problem)
            return None
        loaded = self._loaded.get(target)
        if loaded is None:
            loaded = self._read(ref, target)
            self._loaded[target] = loaded
        if isinstance(loaded, list):
            if not loaded:  # the file itself could not be read: say so where it is named
                self._fail(at, self._unreadable(ref, target))
            self.errors.extend(loaded)
            return None
        return _Doc(loaded.name, loaded.data, loaded.positions, target, (*chain, target))

    def _read(self, ref: str, target: Path) -> _Doc | list[SpecError]:
        """The file, or the errors inside it (none when it cannot be read at all)."""
        name = self._name(target)
        try:
            raw = target.read_bytes()
        except OSError:
            return []
        self.read.add(target)
        if len(raw) > MAX_SPEC_BYTES:
            message = f"`$ref` file is larger than {MAX_SPEC_BYTES} bytes"
            return [SpecError(name, 1, 1, "", message)]
        try:
            data, positions = parse_document(decode(raw, name, "the `$ref` file"), name)
        except SpecErrors as exc:
            return list(exc.errors)
        return _Doc(name, data, positions, target, ())

    def _unreadable(self, ref: str, target: Path) -> str:
        if not target.exists():
            return f"`$ref` file {ref!r} does not exist (paths are relative to the spec)"
        if target.is_dir():
            return f"`$ref` {ref!r} names a folder, not a file"
        return f"cannot read `$ref` file {ref!r}"

    def _name(self, target: Path) -> str:
        """A file as messages name it: beside the spec as the spec itself is named."""
        return str(Path(self.pos.file).parent / target.relative_to(self.root))

    def _fail(self, at: _At, message: str) -> None:
        """A problem with the `$ref` at `at`, placed in the file that holds it."""
        if at.doc is None:
            self.errors.append(self.pos.error((*at.path, "$ref"), message))
        else:
            self.errors.append(at.doc.positions.error((*at.inner, "$ref"), message))

    def _local(self, node: Any, root: Any, path: Path_) -> Any:
        """Each `#...` reference of the spec's schema checked; an anchor becomes its pointer."""
        if isinstance(node, list):
            return [self._local(item, root, (*path, i)) for i, item in enumerate(node)]
        if not isinstance(node, dict):
            return node
        out = {k: self._local(v, root, (*path, k)) for k, v in node.items()}
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#"):
            found = _find(root, ref[1:])
            if found is None:
                message = (
                    f"`$ref` {ref!r} points at nothing in this schema; define it under the "
                    "schema's `$defs`"
                )
                self.errors.append(self.positions.error((*path, "$ref"), message))
            else:
                out["$ref"] = "#" + pointer.text(found[1])
        return out


def _find(document: Any, fragment: str) -> tuple[Any, Path_] | None:
    """What a URI fragment names in `document` (a JSON Pointer or an anchor), with its path."""
    fragment = unquote(fragment)
    if fragment == "":
        return document, ()
    if not fragment.startswith("/"):
        anchored = (
            (node, path)
            for node, path in _nodes(document, ())
            if node.get("$anchor") == fragment or node.get("$id") == f"#{fragment}"
        )
        return next(anchored, None)
    return pointer.walk(document, pointer.parts(fragment))


def _nodes(node: Any, path: Path_) -> Iterator[tuple[dict[str, Any], Path_]]:
    """Every mapping inside `node`, with its path."""
    if isinstance(node, dict):
        yield node, path
        for key, value in node.items():
            yield from _nodes(value, (*path, key))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _nodes(item, (*path, i))
