"""Stage 1: read `purista.yaml` into plain values, remembering where each one stood."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

from purista import cache
from purista._version import __version__
from purista.errors import SpecError, SpecErrors

MAX_SPEC_BYTES = 5_000_000
MAX_NODES = 500_000  # bounds alias expansion ("billion laughs")
MAX_DEPTH = 100  # bounds nesting (aliases too): no spec needs more, and it bounds recursion
_PLAIN_PART = re.compile(r"[A-Za-z0-9_$-]+")

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Positions:
    """Line and column (1-based) of every key and value, by its path in the spec."""

    file: str
    keys: Mapping[Path_, tuple[int, int]] = field(default_factory=dict)
    values: Mapping[Path_, tuple[int, int]] = field(default_factory=dict)

    def error(self, path: Path_, message: str, *, at_key: bool = False) -> SpecError:
        """An error at `path`, placed at the nearest position known for it."""
        line, column = self.locate(path, at_key=at_key)
        return SpecError(self.file, line, column, dotted(path), message)

    def locate(self, path: Path_, *, at_key: bool = False) -> tuple[int, int]:
        """The position of `path`, or of its closest known ancestor."""
        first, second = (self.keys, self.values) if at_key else (self.values, self.keys)
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            for table in (first, second):
                if prefix in table:
                    return table[prefix]
        return (1, 1)


@dataclass(frozen=True)
class LoadedSpec:
    """A spec as plain dicts, lists and scalars, with the positions of its parts."""

    path: Path
    text: str
    data: Any
    positions: Positions


def dotted(path: Path_) -> str:
    """`("services", "user", "commands")` -> `services.user.commands`; list items as `[3]`.

    A key that is not a plain word is quoted (`services["../etc"]`), so every path
    reads back unambiguously.
    """
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _PLAIN_PART.fullmatch(part):
            out += f"[{json.dumps(part)}]"
        else:
            out += f".{part}" if out else part
    return out


def load_spec(path: Path) -> LoadedSpec:
    """Read and parse a spec file; every problem is a located `SpecErrors`."""
    return parse_spec(read_spec(path), path)


def read_spec(path: Path) -> str:
    """A spec file's text; a missing, unreadable, huge or non-UTF-8 file is a `SpecErrors`."""
    name = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SpecErrors([SpecError(name, 1, 1, "", "spec file not found")]) from None
    except OSError as exc:
        raise SpecErrors(
            [SpecError(name, 1, 1, "", f"cannot read the spec: {exc.strerror}")]
        ) from None
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecErrors([SpecError(name, 1, 1, "", f"spec is larger than {MAX_SPEC_BYTES} bytes")])
    return decode(raw, name, "the spec")


def decode(raw: bytes, name: str, what: str) -> str:
    """UTF-8 bytes as text; anything else is a `SpecErrors` at the first bad byte of `name`."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        start = raw.rfind(b"\n", 0, exc.start) + 1
        line = raw.count(b"\n", 0, exc.start) + 1
        column = len(raw[start : exc.start].decode("utf-8", "replace")) + 1
        problem = f"byte 0x{raw[exc.start]:02x}: {exc.reason}"
        message = f"{what} is not UTF-8 ({problem}); save the file as UTF-8"
        raise SpecErrors([SpecError(name, line, column, "", message)]) from None


def parse_spec(text: str, path: Path) -> LoadedSpec:
    """Parse spec text; `path` names it in messages and anchors relative `$ref`s."""
    data, positions = parse_document(text, str(path))
    if data is None:
        data = {}
    remember(text, data)
    return LoadedSpec(path=path, text=text, data=data, positions=positions)


def parse_document(text: str, name: str) -> tuple[Any, Positions]:
    """YAML or JSON text (a spec, a `$ref` file, a schema file) as plain values and positions.

    The spec's bounds hold: no tags, no duplicate keys, no alias bombs.
    """
    document = parse_yaml(text, name)
    positions = Positions(name)
    _refuse_large_expansion(document, name)
    return _Plain(positions).convert(document, ()), positions


def remember(text: str, data: Any) -> None:
    """Keep the plain values of a spec text that loaded cleanly, for `recall`."""
    with contextlib.suppress(TypeError, ValueError):
        cache.put("specs", _text_key(text), json.dumps(data), ".json")


def recall(text: str) -> Any:
    """The plain values of a spec text loaded before (a fresh copy), or None.

    `purista add` starts from them instead of parsing the whole spec again.
    """
    cached = cache.get("specs", _text_key(text), ".json")
    if cached is None:
        return None
    try:
        return json.loads(cached)
    except ValueError:
        return None


def _text_key(text: str) -> str:
    return hashlib.sha256(f"{__version__}:{MAX_NODES}:{MAX_DEPTH}\n{text}".encode()).hexdigest()


def from_document(document: Any, text: str, path: Path) -> LoadedSpec:
    """A spec from a round-trip document already in memory (edited by `purista add`).

    The same checks as `parse_spec`, but no positions: the document's marks are
    stale after an edit. A caller that finds a problem parses `text` for them.
    """
    positions = Positions(str(path))
    _refuse_large_expansion(document, str(path))
    data = _Plain(positions, record=False).convert(document, ())
    return LoadedSpec(
        path=path, text=text, data=data if data is not None else {}, positions=positions
    )


def parse_yaml(text: str, name: str) -> Any:
    """Round-trip parse (comments and positions kept); no Python tags are ever constructed."""
    yaml = YAML(typ="rt")
    try:
        return yaml.load(io.StringIO(text))
    except DuplicateKeyError as exc:
        raise SpecErrors([_duplicate_key(text, name, exc)]) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        start = exc.context_mark
        if exc.problem and exc.context and start and start.line != (mark.line if mark else -1):
            where = f"line {start.line + 1}, column {start.column + 1}"
            problem += f" ({exc.context} that starts at {where})"
        raise SpecErrors([SpecError(name, line, column, "", f"invalid YAML: {problem}")]) from None
    except YAMLError as exc:
        raise SpecErrors([SpecError(name, 1, 1, "", f"invalid YAML: {exc}")]) from None
    except RecursionError:
        message = "invalid YAML: values nest too deeply"
        raise SpecErrors([SpecError(name, 1, 1, "", message)]) from None


def _duplicate_key(text: str, name: str, exc: DuplicateKeyError) -> SpecError:
    """A duplicate key, with its path in the spec and where the key first stood."""
    mark = exc.problem_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    found = _find_duplicate(YAML(typ="rt").compose(io.StringIO(text)), (), (line, column), set())
    if found is None:
        return SpecError(name, line, column, "", "invalid YAML: duplicate key")
    path, first = found
    message = f"duplicate key `{path[-1]}` (first at line {first[0]}); keep one of the two"
    return SpecError(name, line, column, dotted(path), message)


def _find_duplicate(
    node: Node, path: Path_, at: tuple[int, int], seen: set[int]
) -> tuple[Path_, tuple[int, int]] | None:
    """The path of the mapping key standing at `at`, and where that key stood first."""
    if id(node) in seen:
        return None
    seen.add(id(node))
    if isinstance(node, MappingNode):
        first: dict[str, tuple[int, int]] = {}
        for key, value in node.value:
            where = (key.start_mark.line + 1, key.start_mark.column + 1)
            name = str(key.value)
            if where == at:
                return (*path, name), first.get(name, where)
            first.setdefault(name, where)
            found = _find_duplicate(value, (*path, name), at, seen)
            if found:
                return found
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            found = _find_duplicate(item, (*path, index), at, seen)
            if found:
                return found
    return None


def _refuse_large_expansion(document: Any, name: str) -> None:
    """Refuse a document that aliases blow up: too many values ("billion laughs") or too deep.

    Aliases share one object, so each object is measured once: this takes time in
    the size of the text, not of the expansion. The error points at the innermost
    value that is too large on its own, or at the top-level key that nests too deeply.
    """
    measures: dict[int, tuple[int, int]] = {}
    size, height = _measure(document, measures)
    if size > MAX_NODES:
        message = f"{{}} expands through aliases to more than {MAX_NODES} values (an alias bomb?)"
        too_big = True
    elif height > MAX_DEPTH:
        message = f"values nest more than {MAX_DEPTH} levels deep"
        too_big = False
    else:
        return
    node: Any = document
    path: Path_ = ()
    where = (1, 1)
    while True:
        for key, child in _children(node):
            child_size, child_height = measures.get(id(child), (1, 1))
            if (child_size > MAX_NODES) if too_big else (child_height + len(path) >= MAX_DEPTH):
                if isinstance(node, CommentedMap):
                    where, path = _positions(node, key)[1], (*path, str(key))
                else:
                    where, path = _item(node, key), (*path, key)
                node = child
                break
        else:
            break
        if not too_big:
            break
    message = message.format("this value" if path else "the spec")
    raise SpecErrors([SpecError(name, *where, dotted(path), message)])


def _measure(node: Any, measures: dict[int, tuple[int, int]]) -> tuple[int, int]:
    """How many values `node` expands to, and how deep they nest."""
    if not isinstance(node, CommentedMap | CommentedSeq):
        return 1, 0
    if id(node) in measures:
        return measures[id(node)]
    measures[id(node)] = (MAX_NODES + 1, 0)  # being measured: reaching it again is a cycle
    size, height = 1, 0
    for _, child in _children(node):
        child_size, child_height = _measure(child, measures)
        size, height = min(size + child_size, MAX_NODES + 1), max(height, child_height + 1)
    measures[id(node)] = (size, height)
    return size, height


def _children(node: Any) -> Iterator[tuple[Any, Any]]:
    """Key and value of each entry of a mapping, index and item of each of a sequence."""
    if isinstance(node, CommentedMap):
        yield from node.items()
    elif isinstance(node, CommentedSeq):
        yield from enumerate(node)


def _item(node: CommentedSeq, index: int) -> tuple[int, int]:
    """Where a sequence's item stands (or the sequence, if the item's place is not known)."""
    position = node.lc.item(index) if index in node.lc.data else None
    return _pos(position or (node.lc.line, node.lc.col))


def _positions(node: CommentedMap, key: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    """Where `key` and its value stand; a key merged in with `<<` stands where it was written."""
    if key in node.lc.data:
        return _pos(node.lc.key(key)), _pos(node.lc.value(key))
    for source in getattr(node, "merge", ()):
        if isinstance(source, CommentedMap) and key in source:
            return _positions(source, key)
    start = _pos((node.lc.line, node.lc.col))
    return start, start


class _Plain:
    """Convert ruamel's nodes to plain values, recording positions and refusing tags."""

    def __init__(self, positions: Positions, *, record: bool = True) -> None:
        self.record = record
        self.keys: dict[Path_, tuple[int, int]] = positions.keys  # type: ignore[assignment]
        self.values: dict[Path_, tuple[int, int]] = positions.values  # type: ignore[assignment]
        self.file = positions.file

    def convert(self, node: Any, path: Path_) -> Any:
        tag = getattr(getattr(node, "tag", None), "value", None)
        if tag is not None:
            line, column = self.values.get(path, (1, 1))
            shown = str(tag).replace("tag:yaml.org,2002:", "!!")
            message = f"YAML tags are not allowed (`{shown}`); write a plain value"
            raise SpecErrors([SpecError(self.file, line, column, dotted(path), message)])
        if isinstance(node, CommentedMap):
            out: dict[str, Any] = {}
            for key in node:
                if not isinstance(key, str | int | float | bool) or key is None:
                    raise SpecErrors([self._at(node, key, path, "keys must be plain strings")])
                child = (*path, str(key))
                if self.record:
                    self.keys[child], self.values[child] = _positions(node, key)
                out[str(key)] = self.convert(node[key], child)
            return out
        if isinstance(node, CommentedSeq):
            items = []
            for index, item in enumerate(node):
                child = (*path, index)
                if self.record:
                    self.keys[child] = self.values[child] = _item(node, index)
                items.append(self.convert(item, child))
            return items
        if isinstance(node, str):
            return str(node)
        if node is None or isinstance(node, bool):
            return node
        if isinstance(node, int):
            return int(node)
        if isinstance(node, float):
            return float(node)
        line, column = self.values.get(path, (1, 1))
        message = f"a YAML {type(node).__name__} is not a spec value; quote it to make it a string"
        raise SpecErrors([SpecError(self.file, line, column, dotted(path), message)])

    def _at(self, node: CommentedMap, key: Any, path: Path_, message: str) -> SpecError:
        if not self.record:
            return SpecError(self.file, 1, 1, dotted(path), message)
        line, column = _positions(node, key)[0]
        return SpecError(self.file, line, column, dotted(path), message)


def _pos(position: tuple[int, int]) -> tuple[int, int]:
    return (position[0] + 1, position[1] + 1)
