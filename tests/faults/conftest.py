"""Fault tests: real worker processes against a Redis that the tests restart, freeze and
whose workers they kill (see `harness`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from faults.harness import Server, Workers
from purista.runtime import app


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """A Redis of this test; the runtime in the test process points at it too."""
    s = Server(tmp_path)
    monkeypatch.setenv("REDIS_URL", s.url)
    app.reset()
    yield s
    app.reset()
    s.stop()


@pytest.fixture
def workers(server: Server, tmp_path: Path) -> Iterator[Workers]:
    """Worker processes of this test, killed at its end."""
    (tmp_path / "logs").mkdir()
    w = Workers(server, tmp_path / "logs")
    yield w
    w.procs.stop_all()
