"""JSON Pointers (RFC 6901) into schemas: the parts of a `#/...` reference, and what they name."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def unescape(part: str) -> str:
    """One part of a pointer as the key it names (`~1` is `/`, `~0` is `~`)."""
    return part.replace("~1", "/").replace("~0", "~")


def parts(pointer: str) -> tuple[str, ...]:
    """The keys a pointer (`/$defs/a~1b`, a fragment without its `#`) names, in order."""
    return tuple(unescape(part) for part in pointer.split("/")[1:])


def text(keys: Iterable[str | int]) -> str:
    """The pointer that names `keys`, in order: the inverse of `parts`."""
    return "".join("/" + str(key).replace("~", "~0").replace("/", "~1") for key in keys)


def walk(document: Any, keys: Iterable[str]) -> tuple[Any, tuple[str | int, ...]] | None:
    """What `keys` name inside `document`, with its path (list indexes as ints), or None."""
    node = document
    path: tuple[str | int, ...] = ()
    for key in keys:
        if isinstance(node, dict) and key in node:
            node, path = node[key], (*path, key)
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node, path = node[int(key)], (*path, int(key))
        else:
            return None
    return node, path
