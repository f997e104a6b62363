"""Settings from an environment, secrets from files (`purista.runtime.settings`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from purista.runtime.project import DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL
from purista.runtime.settings import Settings, secret


def test_an_empty_environment_gives_the_project_defaults() -> None:
    settings = Settings.from_env({})
    assert settings == Settings(
        redis_url=DEFAULT_REDIS_URL,
        database_url=DEFAULT_DATABASE_URL,
        result_expires=3600,
        job_retention=7 * 24 * 3600,
        db_pool_size=None,
    )
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.database_url is None


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "REDIS_URL": "redis://cache:6380/2",
            "DATABASE_URL": "postgresql://db/app",
            "PURISTA_RESULT_EXPIRES": "60",
            "PURISTA_JOB_RETENTION": "1.5",
            "PURISTA_DB_POOL_SIZE": "7",
        }
    )
    assert settings == Settings("redis://cache:6380/2", "postgresql://db/app", 60, 1.5, 7)


def test_empty_variables_fall_back_to_the_defaults() -> None:
    settings = Settings.from_env({"REDIS_URL": "", "DATABASE_URL": "", "PURISTA_DB_POOL_SIZE": ""})
    assert (settings.redis_url, settings.database_url, settings.db_pool_size) == (
        DEFAULT_REDIS_URL,
        None,
        None,
    )


def test_the_process_environment_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://from-env:1/0")
    monkeypatch.setenv("PURISTA_RESULT_EXPIRES", "5")
    settings = Settings.from_env()
    assert (settings.redis_url, settings.result_expires) == ("redis://from-env:1/0", 5)


def test_secrets_are_read_from_files(tmp_path: Path) -> None:
    redis_file = tmp_path / "redis-url"
    redis_file.write_text("redis://secret:6379/1\n", encoding="utf-8")
    database_file = tmp_path / "database-url"
    database_file.write_text("  postgresql://user:pw@db/app  \n", encoding="utf-8")
    settings = Settings.from_env(
        {"REDIS_URL_FILE": str(redis_file), "DATABASE_URL_FILE": str(database_file)}
    )
    assert settings.redis_url == "redis://secret:6379/1"
    assert settings.database_url == "postgresql://user:pw@db/app"


def test_the_variable_wins_over_the_file(tmp_path: Path) -> None:
    redis_file = tmp_path / "redis-url"
    redis_file.write_text("redis://from-file:6379/0", encoding="utf-8")
    environ = {"REDIS_URL": "redis://from-var:6379/0", "REDIS_URL_FILE": str(redis_file)}
    assert Settings.from_env(environ).redis_url == "redis://from-var:6379/0"
    unreadable = {"REDIS_URL": "redis://from-var:6379/0", "REDIS_URL_FILE": str(tmp_path / "no")}
    assert Settings.from_env(unreadable).redis_url == "redis://from-var:6379/0"


def test_an_empty_file_gives_the_default(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n", encoding="utf-8")
    assert Settings.from_env({"REDIS_URL_FILE": str(empty)}).redis_url == DEFAULT_REDIS_URL


def test_an_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(RuntimeError) as caught:
        Settings.from_env({"DATABASE_URL_FILE": str(missing)})
    message = str(caught.value)
    assert message.startswith(f"DATABASE_URL_FILE names {missing}, which cannot be read: ")
    assert "No such file or directory" in message
    assert caught.value.__suppress_context__
    with pytest.raises(RuntimeError, match=r"^REDIS_URL_FILE names .*, which cannot be read: "):
        Settings.from_env({"REDIS_URL_FILE": str(tmp_path)})


def test_secret_reads_a_variable_or_its_file(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n", encoding="utf-8")
    assert secret({"TOKEN": "plain"}, "TOKEN") == "plain"
    assert secret({"TOKEN_FILE": str(token)}, "TOKEN") == "s3cret"
    assert secret({"TOKEN": "", "TOKEN_FILE": str(token)}, "TOKEN") == "s3cret"
    assert secret({"TOKEN_FILE": ""}, "TOKEN") is None
    assert secret({}, "TOKEN") is None
