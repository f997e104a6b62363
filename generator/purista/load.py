"""Stage 1: read `purista.yaml` into plain values, remembering where each one stood."""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from purista.errors import SpecError, SpecErrors

MAX_SPEC_BYTES = 5_000_000
MAX_NODES = 500_000  # bounds alias expansion ("billion laughs")

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
    """`("services", "user", "commands")` -> `services.user.commands`; list items as `[3]`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_spec(path: Path) -> LoadedSpec:
    """Read and parse a spec file; every problem is a located `SpecErrors`."""
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
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecErrors([SpecError(name, 1, 1, "", f"spec is not UTF-8 ({exc.reason})")]) from None
    return parse_spec(text, path)


def parse_spec(text: str, path: Path) -> LoadedSpec:
    """Parse spec text; `path` names it in messages and anchors relative `$ref`s."""
    document = parse_yaml(text, str(path))
    positions = Positions(str(path))
    data = _Plain(positions).convert(document, ())
    if data is None:
        data = {}
    return LoadedSpec(path=path, text=text, data=data, positions=positions)


def parse_yaml(text: str, name: str) -> Any:
    """Round-trip parse (comments and positions kept); no Python tags are ever constructed."""
    yaml = YAML(typ="rt")
    try:
        return yaml.load(io.StringIO(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        if "duplicate key" in problem:
            problem = problem.split(" with value")[0]
        raise SpecErrors([SpecError(name, line, column, "", f"invalid YAML: {problem}")]) from None
    except YAMLError as exc:
        raise SpecErrors([SpecError(name, 1, 1, "", f"invalid YAML: {exc}")]) from None


class _Plain:
    """Convert ruamel's nodes to plain values, recording positions and refusing tags."""

    def __init__(self, positions: Positions) -> None:
        self.keys: dict[Path_, tuple[int, int]] = positions.keys  # type: ignore[assignment]
        self.values: dict[Path_, tuple[int, int]] = positions.values  # type: ignore[assignment]
        self.file = positions.file
        self.nodes = 0

    def convert(self, node: Any, path: Path_) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            line, column = self.values.get(path, (1, 1))
            raise SpecErrors(
                [
                    SpecError(
                        self.file,
                        line,
                        column,
                        dotted(path),
                        f"the spec expands to more than {MAX_NODES} values (alias bomb?)",
                    )
                ]
            )
        tag = getattr(getattr(node, "tag", None), "value", None)
        if tag is not None:
            line, column = self.values.get(path, (1, 1))
            raise SpecErrors(
                [
                    SpecError(
                        self.file, line, column, dotted(path), f"YAML tags are not allowed ({tag})"
                    )
                ]
            )
        if isinstance(node, CommentedMap):
            out: dict[str, Any] = {}
            for key in node:
                if not isinstance(key, str | int | float | bool) or key is None:
                    raise SpecErrors([self._at(node, key, path, "keys must be plain strings")])
                child = (*path, str(key))
                self.keys[child] = _pos(node.lc.key(key))
                self.values[child] = _pos(node.lc.value(key))
                out[str(key)] = self.convert(node[key], child)
            return out
        if isinstance(node, CommentedSeq):
            items = []
            for index, item in enumerate(node):
                child = (*path, index)
                self.keys[child] = self.values[child] = _pos(node.lc.item(index))
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
        line, column = _pos(node.lc.key(key))
        return SpecError(self.file, line, column, dotted(path), message)


def _pos(position: tuple[int, int]) -> tuple[int, int]:
    return (position[0] + 1, position[1] + 1)
