"""A spec as it was at a git revision (`git:REV`), with the `$ref` files it read then.

The spec and each file its `$ref`s name (and theirs, in turn) are read with
`git show REV:./<path>` and laid out in a temporary folder as they were beside the
spec, so validation reads them as it reads files on disk. Problems are told in
`git:REV:<path>` terms, which `git show` reads back.
"""

from __future__ import annotations

import contextlib
import posixpath
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from purista.errors import SpecErrors, UsageError
from purista.load import LoadedSpec, decode, parse_document

PREFIX = "git:"
MAX_FILES = 1000


def is_revision(argument: str) -> bool:
    """Whether a command-line spec argument names a git revision (`git:REV`)."""
    return argument.startswith(PREFIX)


@contextlib.contextmanager
def spec_at(argument: str, spec: Path) -> Iterator[LoadedSpec]:
    """The spec at `spec`'s path as of the revision `argument` (`git:REV`), loaded.

    Its `$ref` files are in a temporary folder while the context is open.
    """
    rev = argument.removeprefix(PREFIX)
    if not rev or rev.startswith("-") or any(c.isspace() for c in rev):
        raise UsageError(f"{argument!r} names no git revision: write git:REV, e.g. git:main")
    folder = spec.parent
    shown = _shown(spec)
    display = f"{PREFIX}{rev}:{shown}"
    text = decode(_show(rev, folder, spec.name, display), display, "the spec")
    with tempfile.TemporaryDirectory(prefix="purista-diff-") as tmp:
        root = Path(tmp)
        (root / spec.name).write_text(text, encoding="utf-8")
        data, positions = parse_document(text, display)
        data = {} if data is None else data
        _copy_refs(rev, folder, root, data)
        yield LoadedSpec(root / spec.name, text, data, positions)


def _shown(spec: Path) -> str:
    """The spec's path as messages name it: from the current folder when it is inside it."""
    if spec.is_absolute() and spec.is_relative_to(Path.cwd()):
        spec = spec.relative_to(Path.cwd())
    return str(spec) if spec.parent != Path() else f"./{spec}"


def _show(rev: str, folder: Path, name: str, display: str) -> bytes:
    """A file's bytes at `rev`, or a `UsageError` with git's own reason."""
    try:
        result = _git_show(rev, folder, name)
    except FileNotFoundError:
        raise UsageError(f"cannot read {display}: git is not installed") from None
    if isinstance(result, str):
        raise UsageError(f"cannot read {display}: {result}")
    return result


def _git_show(rev: str, folder: Path, name: str) -> bytes | str:
    """A file's bytes at `rev` (`name` relative to `folder`), or what git said instead."""
    done = subprocess.run(
        ["git", "-C", str(folder), "show", f"{rev}:./{name}"],
        capture_output=True,
        check=False,
        timeout=60,
    )
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        return lines[0].removeprefix("fatal: ") if lines else f"git exited {done.returncode}"
    return done.stdout


def _copy_refs(rev: str, folder: Path, root: Path, data: Any) -> None:
    """Copy each file the `$ref`s of `data` name, and theirs, from `rev` into `root`.

    A file git does not have is left out: validation reports it where it is named.
    """
    todo = [("", data)]
    done: set[str] = set()
    while todo and len(done) < MAX_FILES:
        base, node = todo.pop()
        for ref in sorted(_refs(node)):
            file_part = unquote(ref.partition("#")[0])
            if not file_part or "://" in file_part or file_part.startswith("/"):
                continue
            name = posixpath.normpath(posixpath.join(base, file_part))
            if name in done or name in (".", "..") or name.startswith("../"):
                continue
            done.add(name)
            content = _git_show(rev, folder, name)
            if isinstance(content, str):
                continue
            try:  # a folder's listing, or a file where a folder was: left out, and reported
                (root / name).parent.mkdir(parents=True, exist_ok=True)
                (root / name).write_bytes(content)
            except OSError:
                continue
            with contextlib.suppress(SpecErrors):  # reported when validation reads it
                inner, _ = parse_document(decode(content, name, "the `$ref` file"), name)
                todo.append((posixpath.dirname(name), inner))


def _refs(node: Any) -> Iterator[str]:
    """Every `$ref` string inside `node`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)
