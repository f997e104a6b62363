"""A cache of derived text (payload models, formatted code) shared by every project.

It lives under `$PURISTA_CACHE_DIR`, or the platform's user cache folder
(`~/.cache/purista` on Linux, as `platformdirs` says elsewhere). Entries are keyed by
a hash of everything they derive from, so they never go stale; a cache that cannot be
read or written only costs time. It is kept under `$PURISTA_CACHE_MAX_MB` (100 MB):
the first entry a process writes prunes the least recently used ones beyond that.
`purista cache clear` empties it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import platformdirs

#: The cap when `$PURISTA_CACHE_MAX_MB` does not set one.
DEFAULT_MAX_MB = 100


def base_dir() -> Path:
    """The cache's folder."""
    return Path(os.environ.get("PURISTA_CACHE_DIR") or platformdirs.user_cache_dir("purista"))


def cache_dir(kind: str) -> Path:
    """The folder of one kind of entry (`models`, `format`, `schemas`)."""
    return base_dir() / kind


def get(kind: str, key: str, suffix: str = ".py") -> str | None:
    """The cached text for `key`, or None; a hit marks the entry as recently used."""
    path = cache_dir(kind) / f"{key}{suffix}"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    with contextlib.suppress(OSError):
        os.utime(path)
    return text


def put(kind: str, key: str, text: str, suffix: str = ".py") -> None:
    """Store `text` for `key` (best effort, atomically: readers never see half an entry)."""
    if not _state.pruned:
        _state.pruned = True
        prune(max_bytes())
    directory = cache_dir(kind)
    with contextlib.suppress(OSError):
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{key}.{os.getpid()}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, directory / f"{key}{suffix}")


class _State:
    """Whether this process has pruned the cache yet (once is enough)."""

    pruned = False


_state = _State()


def max_bytes() -> int:
    """The cap: `$PURISTA_CACHE_MAX_MB` megabytes (100 when unset or not a number)."""
    try:
        megabytes = float(os.environ.get("PURISTA_CACHE_MAX_MB", DEFAULT_MAX_MB))
    except ValueError:
        megabytes = DEFAULT_MAX_MB
    return max(0, int(megabytes * 1024 * 1024))


@dataclass(frozen=True)
class Usage:
    """What the cache holds."""

    entries: int
    size: int


def usage() -> Usage:
    """How many entries the cache holds, and their size in bytes."""
    files = _entries()
    return Usage(len(files), sum(size for _, _, size in files))


def prune(limit: int) -> Usage:
    """Delete the least recently used entries until the rest fit in `limit` bytes; what went."""
    files = sorted(_entries())  # oldest first
    total = sum(size for _, _, size in files)
    removed = Usage(0, 0)
    for _, path, size in files:
        if total <= limit:
            break
        with contextlib.suppress(OSError):
            path.unlink()
            total -= size
            removed = Usage(removed.entries + 1, removed.size + size)
    return removed


def clear() -> Usage:
    """Delete the whole cache; what it held."""
    held = usage()
    shutil.rmtree(base_dir(), ignore_errors=True)
    return held


def _entries() -> list[tuple[float, Path, int]]:
    """Every entry: when it was last used, its path and size."""
    out: list[tuple[float, Path, int]] = []
    for path in base_dir().glob("*/*"):
        with contextlib.suppress(OSError):
            status = path.stat()
            if path.is_file():
                out.append((status.st_mtime, path, status.st_size))
    return out
