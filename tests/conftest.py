"""Fixtures shared by the tests outside e2e/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from deployment import generate_all
from support import Golden


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite the golden trees and the invalid-spec snapshots from today's output",
    )


def pytest_configure(config: pytest.Config) -> None:
    Golden.update = bool(config.getoption("--update-golden"))


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads these marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under `-n` (pytest-xdist, `--dist loadgroup`): a module's tests stay together, so its
    generated projects and workers are set up once; the fault tests, which restart, freeze
    and kill their Redis and workers against the clock, run one after another."""
    for item in items:
        group = "faults" if item.get_closest_marker("faults") else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session", autouse=True)
def purista_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """purista's cache of this run: a temporary folder, never the user's ~/.cache/purista."""
    folder = tmp_path_factory.mktemp("purista-cache")
    previous = os.environ.get("PURISTA_CACHE_DIR")
    os.environ["PURISTA_CACHE_DIR"] = str(folder)
    yield folder
    if previous is None:
        del os.environ["PURISTA_CACHE_DIR"]
    else:
        os.environ["PURISTA_CACHE_DIR"] = previous


@pytest.fixture(scope="session")
def deploy_projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The deployment specs' projects (shop, scaled, minimal), generated once per run."""
    return generate_all(tmp_path_factory.mktemp("deploy"))
