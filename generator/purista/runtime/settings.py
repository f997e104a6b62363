# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""Settings from the environment, with the spec's values as defaults.

A secret may come as a file instead of a variable (`REDIS_URL_FILE`,
`DATABASE_URL_FILE`), as Kubernetes mounts secrets: the variable wins when both are set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .project import DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL


@dataclass(frozen=True)
class Settings:
    """Where Redis (and the database) are, how long results are kept, how big the pool is."""

    redis_url: str
    database_url: str | None
    result_expires: int
    job_retention: float
    db_pool_size: int | None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Settings from `environ`.

        Read: `REDIS_URL`, `DATABASE_URL` (or their `_FILE` variants),
        `PURISTA_RESULT_EXPIRES`, `PURISTA_JOB_RETENTION` and `PURISTA_DB_POOL_SIZE`.
        """
        pool = environ.get("PURISTA_DB_POOL_SIZE")
        return cls(
            redis_url=secret(environ, "REDIS_URL") or DEFAULT_REDIS_URL,
            database_url=secret(environ, "DATABASE_URL") or DEFAULT_DATABASE_URL,
            result_expires=int(environ.get("PURISTA_RESULT_EXPIRES", "3600")),
            job_retention=float(environ.get("PURISTA_JOB_RETENTION", 7 * 24 * 3600)),
            db_pool_size=int(pool) if pool else None,
        )


def secret(environ: Mapping[str, str], name: str) -> str | None:
    """`name` from the environment, or the contents of the file `<name>_FILE` names."""
    value = environ.get(name)
    if value:
        return value
    path = environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            raise RuntimeError(f"{name}_FILE names {path}, which cannot be read: {exc}") from None
    return None
