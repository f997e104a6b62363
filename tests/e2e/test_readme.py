"""The generated README works as written: every line of its "Run it" block, in order.

For `purista new hello` (the greeter with its working handler) and `purista new shop
--example`: the project's tests, the `invoke --in-process` line with Redis pointing
nowhere, then the workers it starts and the `invoke` on them, on this run's Redis. The
`pip install` line is what the project's venv already did.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest
from support import Processes, Project, project_venv, purista

pytestmark = pytest.mark.e2e

NOWHERE = "redis://127.0.0.1:9/0"  # the discard port: nothing listens there


def run_it(readme: str) -> list[str]:
    """The lines of the README's "Run it" shell block."""
    section = readme.split("## Run it", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


@pytest.mark.parametrize(("name", "args"), [("hello", []), ("shop", ["--example"])])
def test_the_readme_runs_as_written(
    name: str, args: list[str], tmp_path: Path, redis_url: str, processes: Processes
) -> None:
    made = purista("new", name, *args, "--no-skeleton", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    root = tmp_path / name
    project = Project(root, project_venv(root), name)
    env = project.env(NOWHERE)
    outputs: list[object] = []
    for line in run_it((root / "README.md").read_text(encoding="utf-8")):
        words = shlex.split(line, comments=True)
        if words[:2] == ["pip", "install"]:
            continue  # the project's venv holds it already
        if words[0] == "export":
            key, _, _ = words[1].partition("=")
            assert key == "REDIS_URL", line
            env["REDIS_URL"] = redis_url  # this run's Redis, not the README's localhost
            continue
        if words[0] == "pytest":
            words = ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        assert words[0] == "python", f"a README line this test does not know: {line}"
        command = [project.python, *words[1:]]
        if command[-1] == "&":
            processes.start(command[:-1], cwd=root, env=env, log=tmp_path / "workers.log")
            continue
        done = _run(command, root, env)
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
        if "invoke" in words:
            outputs.append(json.loads(done.stdout))
    # Both invokes ran: in-process, then on the workers, each with an output.
    assert len(outputs) == 2, outputs
    if name == "hello":
        assert outputs == [{"message": "Hello, example!"}] * 2


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
