# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""Liveness and readiness of a worker, as files: no broker, no `celery inspect ping`.

A worker with `PURISTA_HEALTH_DIR` set touches `<dir>/heartbeat` every
`HEARTBEAT_INTERVAL` seconds from its own loop (a Celery bootstep's timer, or a
job worker's lease keeper) and keeps `<dir>/ready` while it takes work. It stops
beating when it can no longer work: a job worker whose thread died, or a worker
whose every slot runs a handler past its timeout (a thread cannot be stopped, so
only a restart frees it). The probes read the files without importing anything
but the standard library:

    python -m <package>._purista.health live [--max-age 60]
    python -m <package>._purista.health ready
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

HEARTBEAT_INTERVAL = float(os.environ.get("PURISTA_HEARTBEAT_INTERVAL", "10"))
DEFAULT_MAX_AGE = 60.0


class _Slots:
    """The handlers running in this process: by thread, when each should have ended."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.deadlines: dict[int, float] = {}


_slots = _Slots()


@contextlib.contextmanager
def running(limit: float) -> Iterator[None]:
    """Count this thread as running a handler that should end within `limit` seconds."""
    key = threading.get_ident()
    with _slots.lock:
        _slots.deadlines[key] = time.monotonic() + limit
    try:
        yield
    finally:
        with _slots.lock:
            _slots.deadlines.pop(key, None)


def stuck(now: float | None = None) -> int:
    """How many handlers of this process run past their timeout."""
    now = time.monotonic() if now is None else now
    with _slots.lock:
        return sum(1 for deadline in _slots.deadlines.values() if deadline < now)


def health_dir() -> Path | None:
    """Where this worker keeps its health files, or None when it keeps none."""
    value = os.environ.get("PURISTA_HEALTH_DIR")
    return Path(value) if value else None


def beat() -> None:
    """Touch the heartbeat file (the worker's loop is alive)."""
    folder = health_dir()
    if folder is None:
        return
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "heartbeat").touch()


def set_ready(ready: bool) -> None:
    """Create or remove the readiness file."""
    folder = health_dir()
    if folder is None:
        return
    with contextlib.suppress(OSError):
        if ready:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "ready").touch()
        else:
            (folder / "ready").unlink(missing_ok=True)


def check(kind: str, max_age: float = DEFAULT_MAX_AGE, now: float | None = None) -> str | None:
    """What is wrong with the worker's health, or None when it is live (or ready)."""
    folder = health_dir()
    if folder is None:
        return "PURISTA_HEALTH_DIR is not set; the worker keeps no health files"
    try:
        age = (time.time() if now is None else now) - (folder / "heartbeat").stat().st_mtime
    except OSError:
        return "no heartbeat yet"
    if age > max_age:
        return f"the last heartbeat is {age:.0f} s old (more than {max_age:g} s)"
    if kind == "ready" and not (folder / "ready").exists():
        return "not taking work (starting or stopping)"
    return None


def main(argv: list[str] | None = None) -> int:
    """Exit 0 when live (or ready), 1 with the reason otherwise."""
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}.health")
    parser.add_argument("kind", choices=["live", "ready"])
    parser.add_argument("--max-age", type=float, default=DEFAULT_MAX_AGE, help="seconds")
    args = parser.parse_args(argv)
    problem = check(args.kind, args.max_age)
    if problem:
        print(f"{args.kind}: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
