"""The process's database pool against a real PostgreSQL (`purista.runtime.database`).

The pool tests need PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth). Without it
they are skipped, unless `CI` is set: there they must run.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from purista.runtime import database
from purista.runtime.database import Resources, close_pool, configure, get_pool, pool_size
from purista.runtime.settings import Settings

URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="module")
def postgres() -> str:
    try:
        with psycopg.connect(URL, connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {URL} must be reachable in CI: {exc}")
        pytest.skip(f"PostgreSQL at {URL} is not reachable (in CI this fails): {exc}")
    return URL


@pytest.fixture
def process(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A pool name of this test's own; the process's pool closed and its settings restored."""
    for name in ("DATABASE_URL", "DATABASE_URL_FILE", "PGAPPNAME", "PURISTA_DB_POOL_SIZE"):
        monkeypatch.delenv(name, raising=False)
    size, name = database._process.size, database._process.name
    close_pool()
    yield f"rt-{uuid.uuid4().hex[:12]}"
    close_pool()
    configure(size, name)


@pytest.fixture
def app_name(postgres: str, process: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", postgres)
    return process


def connections(application_name: str) -> int:
    with psycopg.connect(URL, application_name="rt-observer") as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            (application_name,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def settle(application_name: str, expected: int, timeout: float = 5.0) -> int:
    """The connections of `application_name`, once they are `expected` or `timeout` passed."""
    end = time.monotonic() + timeout
    while (found := connections(application_name)) != expected and time.monotonic() < end:
        time.sleep(0.02)
    return found


# ---------------------------------------------------------------------- pool_size


def test_pool_size_is_one_per_slot_of_the_process() -> None:
    settings = Settings.from_env({})
    assert pool_size("prefork", 8, settings) == 1
    assert pool_size("solo", 8, settings) == 1
    assert pool_size("threads", 8, settings) == 8
    assert pool_size("jobs", 3, settings) == 3


def test_the_pool_size_variable_wins() -> None:
    settings = Settings.from_env({"PURISTA_DB_POOL_SIZE": "5"})
    assert pool_size("prefork", 8, settings) == 5
    assert pool_size("threads", 8, settings) == 5


def test_configure_sets_size_and_name(process: str) -> None:
    configure(4, process)
    assert (database._process.size, database._process.name) == (4, process)


# ------------------------------------------------------------------------ the pool


def test_a_missing_database_url_is_a_clear_error(process: str) -> None:
    with pytest.raises(
        RuntimeError, match=r"^no database: set DATABASE_URL \(or DATABASE_URL_FILE\)$"
    ):
        get_pool()
    assert database._process.pool is None
    with pytest.raises(RuntimeError, match="no database"):
        Resources().db  # noqa: B018


def test_the_pool_holds_the_configured_connections(app_name: str) -> None:
    configure(3, app_name)
    pool = get_pool()
    pool.wait(timeout=10)
    assert settle(app_name, 3) == 3
    assert pool.name == app_name
    with pool.connection() as conn:
        row = conn.execute("SELECT current_setting('application_name')").fetchone()
    assert row == (app_name,)
    assert get_pool() is pool
    assert Resources().db is pool
    assert settle(app_name, 3) == 3


def test_close_pool_closes_its_connections(app_name: str) -> None:
    configure(2, app_name)
    pool = get_pool()
    pool.wait(timeout=10)
    assert settle(app_name, 2) == 2
    close_pool()
    assert pool.closed
    assert database._process.pool is None
    assert settle(app_name, 0) == 0
    close_pool()
    reopened = get_pool()
    assert reopened is not pool
    reopened.wait(timeout=10)
    assert settle(app_name, 2) == 2


def test_the_url_can_come_from_a_file(
    postgres: str, process: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "database-url"
    secret.write_text(postgres + "\n", encoding="utf-8")
    monkeypatch.setenv("DATABASE_URL_FILE", str(secret))
    configure(1, process)
    get_pool().wait(timeout=10)
    assert settle(process, 1) == 1


def test_an_application_name_in_the_url_or_pgappname_wins(
    postgres: str, process: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(1, process)
    monkeypatch.setenv("DATABASE_URL", f"{postgres}?application_name={process}-url")
    get_pool().wait(timeout=10)
    assert settle(f"{process}-url", 1) == 1
    close_pool()
    monkeypatch.setenv("DATABASE_URL", postgres)
    monkeypatch.setenv("PGAPPNAME", f"{process}-env")
    get_pool().wait(timeout=10)
    assert settle(f"{process}-env", 1) == 1
    assert connections(process) == 0


def test_a_pool_inherited_from_another_process_is_left_alone(app_name: str) -> None:
    configure(1, app_name)
    inherited = get_pool()
    inherited.wait(timeout=10)
    database._process.pid = os.getpid() + 1
    try:
        close_pool()
        assert not inherited.closed
        own = get_pool()
        assert own is not inherited
        own.wait(timeout=10)
        assert settle(app_name, 2) == 2
    finally:
        inherited.close()


def test_a_pool_without_its_database_says_so_once_not_at_every_retry(
    process: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from support import free_port  # noqa: PLC0415

    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{free_port()}/postgres")
    configure(4, process)
    with caplog.at_level("WARNING", logger="psycopg.pool"):
        get_pool()
        time.sleep(4)  # each of the 4 connections fails and is retried with a backoff
        close_pool()
    failures = [r for r in caplog.records if r.name == "psycopg.pool"]
    assert len(failures) == 1, [r.getMessage() for r in failures]
    assert "error connecting" in failures[0].getMessage()
