"""Handlers of the double. Each records what it was called with in its `CALLS` list and,
when `DOUBLE_RECORD` names a Redis URL (tests with real worker processes), also as a JSON
line on the Redis list `double:calls:<handler>`."""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

import redis

_local = threading.local()


def record(calls: list[dict[str, Any]], handler: str, entry: dict[str, Any], **extra: Any) -> None:
    """Note one call of `handler`: `entry` in `calls`; its plain values and `extra` in Redis."""
    calls.append(entry)
    url = os.environ.get("DOUBLE_RECORD")
    if url:
        if getattr(_local, "client", None) is None:
            _local.client = redis.Redis.from_url(url)
        line = {k: v for k, v in entry.items() if isinstance(v, str | int | float | bool)}
        occurrence = getattr(entry.get("message"), "occurrence_id", None)
        if occurrence:
            line["occurrence"] = occurrence
        line.update(extra, at=time.time(), pid=os.getpid())
        _local.client.rpush(f"double:calls:{handler}", json.dumps(line))
