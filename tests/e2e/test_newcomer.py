"""A newcomer's first minutes, in a fresh venv: purista's README, then the example's own.

`pip install .` (as the README says), `purista new myshop --example`, the project's
`pip install -e '.[test]' && pytest`, then a first `invoke --in-process` with Redis
pointing nowhere: no server, no workers, no collector.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT

pytestmark = pytest.mark.e2e

NOWHERE = "redis://127.0.0.1:9/0"  # the discard port: nothing listens there


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_from_pip_install_to_a_first_invoke_without_redis(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    python, purista = str(venv / "bin" / "python"), str(venv / "bin" / "purista")
    run([python, "-m", "pip", "install", "-q", str(ROOT)], tmp_path)
    run([purista, "new", "myshop", "--example"], tmp_path)
    project = tmp_path / "myshop"
    run([python, "-m", "pip", "install", "-q", "-e", ".[test]"], project)
    run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PURISTA_"))}
    env["REDIS_URL"] = NOWHERE
    payload = '{"email": "ada@example.org", "password": "correct horse"}'
    done = subprocess.run(
        [python, "-m", "myshop", "invoke", "--in-process", "user.v1.signUp", payload],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["userId"]
    # What else ran is said, and nothing about exporters or Redis.
    assert "in-process: userSignedUp delivered to" in done.stderr
    assert "export" not in done.stderr.lower()
    assert "redis" not in done.stderr.lower()
