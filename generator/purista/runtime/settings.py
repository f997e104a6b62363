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

from .errors import PayloadTooLarge, SettingsError
from .project import DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL

#: The largest payload a producer sends, in bytes of JSON, unless `PURISTA_MAX_PAYLOAD` says.
MAX_PAYLOAD = 1024 * 1024

#: How long a finished job is kept, in seconds, unless `PURISTA_JOB_RETENTION` says.
JOB_RETENTION = 7 * 24 * 3600


def check_size(text: str, limit: int, what: str, *, verb: str = "send") -> None:
    """Refuse a payload whose JSON `text` is over `limit` bytes, naming the limit."""
    size = len(text.encode())
    if size > limit:
        raise PayloadTooLarge(
            f"the payload of {what} is {size} bytes of JSON, over the limit of {limit} "
            f"(PURISTA_MAX_PAYLOAD): {verb} a reference to the data (a key, a URL) instead, "
            "or split it"
        )


@dataclass(frozen=True)
class Settings:
    """Where Redis (and the database) are, how long results are kept, how big things may be."""

    redis_url: str
    database_url: str | None
    result_expires: int
    job_retention: float
    db_pool_size: int | None
    max_payload: int = MAX_PAYLOAD
    visibility_timeout: float | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Settings from `environ`.

        Read: `REDIS_URL`, `DATABASE_URL` (or their `_FILE` variants),
        `PURISTA_RESULT_EXPIRES`, `PURISTA_JOB_RETENTION`, `PURISTA_DB_POOL_SIZE`,
        `PURISTA_MAX_PAYLOAD` and `PURISTA_VISIBILITY_TIMEOUT`; a value that is not a
        positive number is a `SettingsError`.
        """
        pool = environ.get("PURISTA_DB_POOL_SIZE")
        visibility = environ.get("PURISTA_VISIBILITY_TIMEOUT")
        return cls(
            redis_url=secret(environ, "REDIS_URL") or DEFAULT_REDIS_URL,
            database_url=secret(environ, "DATABASE_URL") or DEFAULT_DATABASE_URL,
            result_expires=int(_number(environ, "PURISTA_RESULT_EXPIRES", 3600, whole=True)),
            job_retention=_number(environ, "PURISTA_JOB_RETENTION", JOB_RETENTION),
            db_pool_size=int(_number(environ, "PURISTA_DB_POOL_SIZE", 1, whole=True))
            if pool
            else None,
            max_payload=int(_number(environ, "PURISTA_MAX_PAYLOAD", MAX_PAYLOAD, whole=True)),
            visibility_timeout=_number(environ, "PURISTA_VISIBILITY_TIMEOUT", 0)
            if visibility
            else None,
        )


def _number(environ: Mapping[str, str], name: str, default: float, *, whole: bool = False) -> float:
    """A positive (whole) number from `environ`, or `default` when the variable is unset."""
    text = environ.get(name)
    if not text:
        return default
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        value = -1
    if not 0 < value < float("inf"):
        kind = "a whole number" if whole else "a number"
        raise SettingsError(f"{name}={text!r}: must be {kind} greater than 0")
    return value


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
