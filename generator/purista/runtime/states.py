# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""State stores: JSON values under a per-service prefix, with a TTL."""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Protocol, cast

import redis


class States(Protocol):
    """What `context.states` offers."""

    def get_state(self, key: str) -> Any:
        """The value stored under `key`, or None."""

    def set_state(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store a JSON value; `ttl` seconds overrides the service's `state_ttl`."""

    def remove_state(self, key: str) -> None:
        """Forget `key`."""


def encode(key: str, value: Any) -> str:
    """`value` as JSON, or a clear error naming the key."""
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"state {key!r} must be JSON-serialisable: {exc}") from None


class RedisStates:
    """A service's state store in Redis: `<project>:state:<service>.v<N>:<key>`."""

    def __init__(self, client: redis.Redis, prefix: str, default_ttl: float | None) -> None:
        self._client = client
        self._prefix = prefix
        self._default_ttl = default_ttl

    def get_state(self, key: str) -> Any:
        """The value stored under `key`, or None."""
        raw = cast(bytes | None, self._client.get(self._prefix + key))
        return None if raw is None else json.loads(raw)

    def set_state(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store a JSON value; `ttl` seconds overrides the service's `state_ttl`."""
        data = encode(key, value)
        seconds = self._default_ttl if ttl is None else ttl
        if seconds is None:
            self._client.set(self._prefix + key, data)
        else:
            self._client.set(self._prefix + key, data, px=max(1, int(seconds * 1000)))

    def remove_state(self, key: str) -> None:
        """Forget `key`."""
        self._client.delete(self._prefix + key)


class MemoryStates:
    """The same store in memory, for tests and the in-process mode."""

    def __init__(self, default_ttl: float | None = None, clock: Any = time.monotonic) -> None:
        self._data: dict[str, tuple[str, float | None]] = {}
        self._default_ttl = default_ttl
        self._clock = clock
        self._lock = threading.Lock()

    def get_state(self, key: str) -> Any:
        """The value stored under `key`, or None once its TTL has passed."""
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return None
            data, expires = entry
            if expires is not None and self._clock() >= expires:
                del self._data[key]
                return None
        return json.loads(data)

    def set_state(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store a JSON value; `ttl` seconds overrides the default TTL."""
        data = encode(key, value)
        seconds = self._default_ttl if ttl is None else ttl
        with self._lock:
            self._data[key] = (data, None if seconds is None else self._clock() + seconds)

    def remove_state(self, key: str) -> None:
        """Forget `key`."""
        with self._lock:
            self._data.pop(key, None)
