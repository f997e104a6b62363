"""Fixtures of the end-to-end tests: generated projects in their own venvs, a private Redis."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import EXAMPLES, Processes, Project, private_redis, project_venv, purista


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis of this test run's own."""
    with private_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def processes() -> Iterator[Processes]:
    """Workers started by a test, killed when it ends."""
    procs = Processes()
    yield procs
    procs.stop_all()


def make_project(spec: str, name: str, into: Path) -> Path:
    result = purista("new", name, "--spec", str(EXAMPLES / f"{spec}.yaml"), "--output", str(into))
    assert result.returncode == 0, result.stderr
    return into / name


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Project]:
    """The minimal and shop examples generated once and installed, pristine."""
    base = tmp_path_factory.mktemp("projects")
    out = {}
    for spec, package in (("minimal", "hello"), ("shop", "shop")):
        root = make_project(spec, spec, base)
        out[spec] = Project(root, project_venv(root), package)
    return out


@pytest.fixture
def fresh(installed: dict[str, Project], tmp_path: Path) -> dict[str, Project]:
    """A copy of each installed project for one test to change freely."""
    out = {}
    for spec, project in installed.items():
        root = tmp_path / spec
        shutil.copytree(project.root, root)
        out[spec] = Project(root, project.venv, project.package)
    return out
