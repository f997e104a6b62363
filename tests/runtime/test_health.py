"""A worker's liveness and readiness files and the probes reading them (`health`)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from purista.runtime import health


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PURISTA_HEALTH_DIR", str(tmp_path / "health"))
    return tmp_path / "health"


@pytest.fixture
def no_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PURISTA_HEALTH_DIR", raising=False)


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_health_dir_is_the_variable(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert health.health_dir() == folder
    monkeypatch.setenv("PURISTA_HEALTH_DIR", "")
    assert health.health_dir() is None
    monkeypatch.delenv("PURISTA_HEALTH_DIR")
    assert health.health_dir() is None


def test_beat_creates_the_folder_and_touches_the_heartbeat(folder: Path) -> None:
    health.beat()
    heartbeat = folder / "heartbeat"
    assert heartbeat.is_file()
    age(heartbeat, 100)
    health.beat()
    assert time.time() - heartbeat.stat().st_mtime < 5


def test_set_ready_creates_and_removes_the_readiness_file(folder: Path) -> None:
    health.set_ready(True)
    assert (folder / "ready").is_file()
    health.set_ready(True)
    health.set_ready(False)
    assert not (folder / "ready").exists()
    health.set_ready(False)
    assert folder.is_dir()


def test_without_a_folder_nothing_is_written(
    no_folder: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    health.beat()
    health.set_ready(True)
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_cannot_be_made_is_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv("PURISTA_HEALTH_DIR", str(blocker / "health"))
    health.beat()
    health.set_ready(True)
    health.set_ready(False)
    assert health.check("live") == "no heartbeat yet"


# ------------------------------------------------------------------------ check


def test_check_without_a_folder(no_folder: None) -> None:
    assert health.check("live") == "PURISTA_HEALTH_DIR is not set; the worker keeps no health files"


def test_check_without_a_heartbeat(folder: Path) -> None:
    folder.mkdir()
    (folder / "ready").touch()
    assert health.check("live") == "no heartbeat yet"
    assert health.check("ready") == "no heartbeat yet"


def test_check_a_fresh_heartbeat_is_live(folder: Path) -> None:
    health.beat()
    assert health.check("live") is None


def test_check_a_stale_heartbeat(folder: Path) -> None:
    health.beat()
    beat_at = (folder / "heartbeat").stat().st_mtime
    assert health.check("live", now=beat_at + 60) is None
    assert health.check("live", now=beat_at + 61) == (
        "the last heartbeat is 61 s old (more than 60 s)"
    )
    assert health.check("live", max_age=2.5, now=beat_at + 3) == (
        "the last heartbeat is 3 s old (more than 2.5 s)"
    )
    health.set_ready(True)
    assert health.check("ready", now=beat_at + 120) == (
        "the last heartbeat is 120 s old (more than 60 s)"
    )


def test_check_ready_needs_the_readiness_file(folder: Path) -> None:
    health.beat()
    assert health.check("ready") == "not taking work (starting or stopping)"
    health.set_ready(True)
    assert health.check("ready") is None
    health.set_ready(False)
    assert health.check("ready") == "not taking work (starting or stopping)"
    assert health.check("live") is None


# ------------------------------------------------------------------------- main


def test_main_exits_0_when_live_or_ready(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    health.beat()
    health.set_ready(True)
    assert health.main(["live"]) == 0
    assert health.main(["ready"]) == 0
    assert capsys.readouterr() == ("", "")


def test_main_exits_1_with_the_reason(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert health.main(["live"]) == 1
    assert capsys.readouterr().err == "live: no heartbeat yet\n"
    health.beat()
    assert health.main(["ready"]) == 1
    assert capsys.readouterr().err == "ready: not taking work (starting or stopping)\n"
    age(folder / "heartbeat", 30)
    assert health.main(["live", "--max-age", "10"]) == 1
    assert capsys.readouterr().err.startswith(
        "live: the last heartbeat is 30 s old (more than 10 s)"
    )
    assert health.main(["live", "--max-age", "100"]) == 0


def test_main_without_a_folder(no_folder: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert health.main(["ready"]) == 1
    assert "PURISTA_HEALTH_DIR is not set" in capsys.readouterr().err


def test_main_refuses_an_unknown_probe(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        health.main(["dead"])
    assert caught.value.code == 2
    assert "invalid choice: 'dead'" in capsys.readouterr().err
