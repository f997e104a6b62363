"""`pip install .` (not editable): the wheel carries the templates and schemas."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support import ROOT


def test_the_wheel_scaffolds_a_project_on_its_own(tmp_path: Path) -> None:
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = wheels.glob("purista-*.whl")
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    # The installed wheel comes first on the path, before this checkout.
    env = {**os.environ, "PYTHONPATH": str(target)}
    where = subprocess.run(
        [sys.executable, "-c", "import purista; print(purista.__file__)"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(target)
    assert (target / "purista" / "templates" / "project" / "pyproject.toml.jinja").is_file()
    new = subprocess.run(
        [sys.executable, "-m", "purista", "new", "myshop", "--example", "--output", str(tmp_path)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert new.returncode == 0, new.stderr
    project = tmp_path / "myshop"
    assert (
        project / "src" / "myshop" / "services" / "user" / "v1" / "commands" / "sign_up.py"
    ).is_file()
    assert "name: myshop" in (project / "purista.yaml").read_text()
