"""purista's cache: where it lives, its cap (least recently used go first), `cache clear`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from purista import cache
from support import purista


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache of this test's own, not yet pruned by this process."""
    monkeypatch.setenv("PURISTA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cache._state, "pruned", False)
    return tmp_path / "cache"


def entry(folder: Path, name: str, size: int, used: float) -> Path:
    path = folder / "format" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x" * size, encoding="utf-8")
    os.utime(path, (used, used))
    return path


def test_without_a_setting_the_cache_is_in_the_platforms_user_cache_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PURISTA_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # what platformdirs reads on Linux
    assert cache.cache_dir("models") == tmp_path / "purista" / "models"


def test_prune_deletes_the_least_recently_used_entries_beyond_the_limit(folder: Path) -> None:
    old = entry(folder, "old.py", 400, 1_000)
    used = entry(folder, "used.py", 400, 2_000)
    new = entry(folder, "new.py", 400, 3_000)
    assert cache.usage() == cache.Usage(3, 1200)
    assert cache.get("format", "used") == "x" * 400  # a hit makes it the most recent
    assert cache.prune(900) == cache.Usage(1, 400)
    assert (old.exists(), used.exists(), new.exists()) == (False, True, True)
    assert cache.prune(500) == cache.Usage(1, 400)
    assert (used.exists(), new.exists()) == (True, False)


def test_the_first_put_of_a_process_keeps_the_cache_under_its_cap(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(30):
        entry(folder, f"e{n}.py", 100_000, 1_000 + n)
    monkeypatch.setenv("PURISTA_CACHE_MAX_MB", "1")
    cache.put("models", "fresh", "y")
    held = cache.usage()
    assert held.size <= 1024 * 1024
    assert cache.get("models", "fresh") == "y"
    assert not (folder / "format" / "e0.py").exists()
    assert (folder / "format" / "e29.py").exists()


def test_cache_info_and_clear_on_the_command_line(tmp_path: Path, folder: Path) -> None:
    entry(folder, "a.py", 2048, 1_000)
    entry(folder, "b.py", 2048, 1_000)
    env = {**os.environ, "PURISTA_CACHE_DIR": str(folder)}
    info = purista("cache", "info", cwd=tmp_path, env=env)
    assert info.returncode == 0, info.stderr
    assert info.stdout.startswith(f"{folder}: 2 entries, 0.0 MB of at most 100.0 MB")
    cleared = purista("cache", "clear", cwd=tmp_path, env=env)
    assert cleared.returncode == 0, cleared.stderr
    assert cleared.stdout.startswith(f"cleared {folder}: 2 entries")
    assert not folder.exists()


def test_purista_started_by_a_test_uses_this_runs_cache(
    purista_cache: Path, tmp_path: Path
) -> None:
    """`support.purista` keeps the environment, so the temporary cache reaches the child."""
    info = purista("cache", "info", cwd=tmp_path, env={"PYTHONHASHSEED": "0"})
    assert info.returncode == 0, info.stderr
    assert info.stdout.startswith(f"{purista_cache}: ")
