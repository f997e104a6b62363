"""Time a newcomer's first minutes, in a fresh venv (run on demand; not a test).

    .venv/bin/python benchmarks/newcomer.py

The steps of the README, each timed: `pip install .` of this checkout, `purista new
myshop --example`, the project's `pip install -e '.[test]'`, and its first
`invoke --in-process` with Redis pointing nowhere. pip's own cache is used as on any
machine that has installed Python packages before; the total is the time from
`pip install .` to the first output.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAYLOAD = '{"email": "ada@example.org", "password": "correct horse"}'


def step(name: str, args: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    """Run one step, print and return its seconds; stop the benchmark if it fails."""
    started = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{name} failed:\n{done.stdout}\n{done.stderr}")
    print(f"{name:<40} {seconds:7.1f} s", flush=True)
    return seconds


def main() -> None:
    """Every step in a fresh venv and scratch folder, then the total."""
    with tempfile.TemporaryDirectory(prefix="purista-newcomer-") as scratch:
        base = Path(scratch)
        subprocess.run([sys.executable, "-m", "venv", str(base / "venv")], check=True)
        python, purista = str(base / "venv/bin/python"), str(base / "venv/bin/purista")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PURISTA_"))}
        env["REDIS_URL"] = "redis://127.0.0.1:9/0"  # nothing listens there
        env["PURISTA_CACHE_DIR"] = str(base / "cache")  # purista's cache starts empty too
        total = step("pip install .", [python, "-m", "pip", "install", "-q", str(ROOT)], base)
        total += step(
            "purista new myshop --example", [purista, "new", "myshop", "--example"], base, env
        )
        project = base / "myshop"
        install = [python, "-m", "pip", "install", "-q", "-e", ".[test]"]
        total += step("pip install -e '.[test]' (the project)", install, project)
        invoke = [python, "-m", "myshop", "invoke", "--in-process", "user.v1.signUp", PAYLOAD]
        total += step("invoke --in-process user.v1.signUp", invoke, project, env)
        print(f"{'total: pip install . to the first output':<40} {total:7.1f} s")


if __name__ == "__main__":
    main()
