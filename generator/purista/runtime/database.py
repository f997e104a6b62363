# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""The database pool of this process: psycopg_pool, sized by the capacity plan.

A prefork worker opens one pool per child, after the fork (sockets cannot be
shared across it); a threads or job-queue worker opens one in its only process.
The pool is fixed-size (min = max), so what `purista plan` counts is what the
server sees from the start, not only under peak load.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from . import telemetry
from .project import PROJECT
from .settings import Settings


class _Process:
    """The pool of this process, and the size and name the worker configured for it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pool: ConnectionPool | None = None
        self.pid = 0
        self.size = 1
        self.name = PROJECT
        self.observed = False


_process = _Process()


class RepeatFilter(logging.Filter):
    """Lets the first record of each kind through, then one per `every` seconds.

    A pool that cannot reach its database retries each connection with a backoff
    and logs every failure: dozens of lines a minute saying the same thing. Here
    the first says it, and later ones at most once a minute, counting the rest.
    """

    def __init__(self, every: float = 60.0) -> None:
        super().__init__()
        self.every = every
        self.last: dict[str, float] = {}
        self.held: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether to log `record` (its message template names its kind)."""
        kind, now = str(record.msg), time.monotonic()
        last = self.last.get(kind)
        if last is not None and now - last < self.every:
            self.held[kind] = self.held.get(kind, 0) + 1
            return False
        held = self.held.pop(kind, 0)
        if held:
            record.msg = f"{record.msg} ({held} more like it since)"
        self.last[kind] = now
        return True


def configure(size: int, name: str) -> None:
    """The size of each process's pool and the `application_name` its connections carry."""
    _process.size, _process.name = size, name
    pool_log = logging.getLogger("psycopg.pool")
    if not any(isinstance(f, RepeatFilter) for f in pool_log.filters):
        pool_log.addFilter(RepeatFilter())


def pool_size(pool: str, concurrency: int, settings: Settings) -> int:
    """Connections per process: `PURISTA_DB_POOL_SIZE`, else one per slot of the process."""
    if settings.db_pool_size:
        return settings.db_pool_size
    return 1 if pool in ("prefork", "solo") else concurrency


def get_pool() -> ConnectionPool:
    """The pool of this process, opened on first use; a forked child opens its own."""
    with _process.lock:
        if _process.pool is None or _process.pid != os.getpid():
            # An inherited pool is the parent's: never close or use its sockets here.
            _process.pool, _process.pid = _open(), os.getpid()
        return _process.pool


#: psycopg_pool's figures (`get_stats()`) reported as gauges: name, description, how to read.
POOL_FIGURES = (
    ("size", "Connections the pool holds, in use or idle", lambda s: s["pool_size"]),
    ("in_use", "Connections lent to a handler", lambda s: s["pool_size"] - s["pool_available"]),
    ("waiting", "Handlers waiting for a connection", lambda s: s["requests_waiting"]),
    ("max", "The most connections the pool may hold (the plan's)", lambda s: s["pool_max"]),
)


def observe_pool() -> None:
    """Report this process's pool: size, in use, waiting and its maximum, once per process.

    Read from psycopg_pool's counters when the metrics are collected; a process
    without an open pool (a prefork worker's main process) reports nothing.
    """
    if _process.observed:
        return
    _process.observed = True

    def reader(figure: Any) -> Any:
        def read() -> dict[str, float]:
            pool = _process.pool
            if pool is None or _process.pid != os.getpid():
                return {}
            return {_process.name: float(figure(pool.get_stats()))}

        return read

    for name, description, figure in POOL_FIGURES:
        gauge = f"purista.db.pool.{name}"
        telemetry.observe(gauge, description, "{connection}", reader(figure), "purista.db.pool")


def close_pool() -> None:
    """Close this process's pool (at the end of a worker or a child)."""
    with _process.lock:
        if _process.pool is not None and _process.pid == os.getpid():
            _process.pool.close()
        _process.pool = None


def _open() -> ConnectionPool:
    url = Settings.from_env().database_url
    if not url:
        raise RuntimeError("no database: set DATABASE_URL (or DATABASE_URL_FILE)")
    kwargs: dict[str, str] = {}
    if "application_name" not in conninfo_to_dict(url) and not os.environ.get("PGAPPNAME"):
        kwargs["application_name"] = _process.name
    size = _process.size
    pool = ConnectionPool(
        url, min_size=size, max_size=size, kwargs=kwargs, name=_process.name, open=False
    )
    pool.open(wait=False)
    return pool


class Resources:
    """`context.resources`: what the spec gives a service besides messages."""

    @property
    def db(self) -> ConnectionPool:
        """The database pool of this process (`with context.resources.db.connection() as conn`)."""
        return get_pool()
