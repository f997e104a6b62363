"""Fixtures shared by the tests outside e2e/."""

from __future__ import annotations

from pathlib import Path

import pytest
from deployment import generate_all


@pytest.fixture(scope="session")
def deploy_projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The deployment specs' projects (shop, scaled, minimal), generated once per run."""
    return generate_all(tmp_path_factory.mktemp("deploy"))
