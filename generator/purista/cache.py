"""A cache of derived text (payload models, formatted code) shared by every project.

It lives under `$PURISTA_CACHE_DIR`, or `$XDG_CACHE_HOME/purista` (default
`~/.cache/purista`). Entries are keyed by a hash of everything they derive from,
so they never go stale; a cache that cannot be read or written only costs time.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def cache_dir(kind: str) -> Path:
    """The folder of one kind of entry (`models`, `format`, `schemas`)."""
    base = os.environ.get("PURISTA_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "purista"
    )
    return Path(base) / kind


def get(kind: str, key: str, suffix: str = ".py") -> str | None:
    """The cached text for `key`, or None."""
    try:
        return (cache_dir(kind) / f"{key}{suffix}").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def put(kind: str, key: str, text: str, suffix: str = ".py") -> None:
    """Store `text` for `key` (best effort, atomically: readers never see half an entry)."""
    directory = cache_dir(kind)
    with contextlib.suppress(OSError):
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{key}.{os.getpid()}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, directory / f"{key}{suffix}")
