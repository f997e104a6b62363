"""The runtime's unit tests: purista's runtime modules, imported as they are, against the
double of the rendered module (`tests/runtime_double`) and a private Redis per test run."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
import redis
import runtime_double
from support import private_redis

# The runtime imports `.project`, which purista renders for each project: here, the double.
runtime_double.install()

from purista.runtime import app  # noqa: E402
from runtime_double.handlers import audit, count, greet, shout, work  # noqa: E402


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis of this test run's own."""
    with private_redis(tmp_path_factory.mktemp("runtime-redis")) as url:
        yield url


@pytest.fixture(autouse=True)
def client(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    """A client of the test run's Redis, emptied before each test; the runtime points at it."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    app.reset()
    for handler in (audit, count, greet, shout, work):
        handler.CALLS.clear()
    connection = redis.Redis.from_url(redis_url)
    connection.flushdb()
    yield connection
    connection.close()
    app.reset()
    # Finalizers of this test's Celery and kombu objects run now, not in the middle of a
    # later compile(): on CPython 3.11.7 code run there breaks the AST's recursion count
    # ("SystemError: AST constructor recursion depth mismatch").
    gc.collect()
