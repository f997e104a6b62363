"""Helpers shared by the tests: running the CLI, private Redis servers, project venvs."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "schemas" / "examples"
CACHE = Path(
    os.environ.get("PURISTA_TEST_CACHE", Path(tempfile.gettempdir()) / "purista-test-cache")
)
#: How expected files are refreshed after an intended change to purista's output.
REFRESH = "pytest --update-golden tests/test_golden.py tests/test_invalid_specs.py"


class Golden:
    """Whether this run rewrites the expected files (`pytest --update-golden`)."""

    update = False


def purista(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real `purista` CLI in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "purista", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` by relative path (caches left out)."""
    skip = {"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache"}
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not skip.intersection(p.relative_to(root).parts)
    }


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.1) -> bool:
    """Poll `predicate` until it is truthy or `timeout` seconds pass."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with contextlib.suppress(Exception):
            if predicate():
                return True
        time.sleep(interval)
    return False


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def private_redis(workdir: Path) -> Iterator[str]:
    """A Redis server of our own on a free port, or, without `redis-server`, a claimed database.

    Our own server keeps tests from touching anything else on the machine's Redis.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        yield from _claimed_database()
        return
    port = free_port()
    proc = redis_server(port, workdir, binary)
    try:
        url = f"redis://127.0.0.1:{port}/0"
        if not wait_for(lambda: redis.Redis.from_url(url).ping(), 10):
            raise RuntimeError("redis-server did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def redis_server(port: int, workdir: Path, binary: str = "redis-server") -> subprocess.Popen[bytes]:
    """Start a redis-server on 127.0.0.1:`port` that keeps nothing on disk."""
    return subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _claimed_database() -> Iterator[str]:
    """A database number on 127.0.0.1:6379 claimed for this run; only it is flushed afterwards."""
    base = os.environ.get("PURISTA_TEST_REDIS", "redis://127.0.0.1:6379")
    claims = redis.Redis.from_url(f"{base}/0")
    for db in range(15, 0, -1):
        if claims.set(f"purista-tests:claim:{db}", os.getpid(), nx=True, ex=3600):
            client = redis.Redis.from_url(f"{base}/{db}")
            if client.dbsize() == 0:
                try:
                    yield f"{base}/{db}"
                finally:
                    client.flushdb()
                    claims.delete(f"purista-tests:claim:{db}")
                return
            claims.delete(f"purista-tests:claim:{db}")
    raise RuntimeError("no free Redis database to claim for the tests")


def project_venv(project: Path) -> Path:
    """A venv with a generated project's dependencies, cached by its pyproject.

    Processes of the project run with `PYTHONPATH=<project>/src`, which wins over
    the editable install, so one venv serves every copy of the project.
    """
    key = hashlib.sha256((project / "pyproject.toml").read_bytes()).hexdigest()[:16]
    venv = CACHE / f"venv-{project.name}-{key}"
    python = venv / "bin" / "python"
    CACHE.mkdir(parents=True, exist_ok=True)
    # Test processes running side by side (xdist, several checkouts) build each venv once.
    with (CACHE / f"{venv.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / ".ok").exists():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            _pip(python, "install", "-q", "-e", f"{project}[test]")
            (venv / ".ok").write_text("ok")
    return venv


def _pip(python: Path, *args: str) -> None:
    result = subprocess.run(
        [str(python), "-m", "pip", *args], capture_output=True, text=True, check=False
    )
    if result.returncode:
        raise RuntimeError(f"pip {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


class Processes:
    """Background processes (workers), each in its own process group, all killed at the end."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(
        self, args: list[str], *, cwd: Path, env: dict[str, str], log: Path
    ) -> subprocess.Popen[bytes]:
        handle = log.open("ab")
        proc = subprocess.Popen(
            args,
            cwd=cwd,
            env={**os.environ, **env},
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        handle.close()
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                self.stop(proc, signal.SIGKILL)


class Project:
    """A generated project, installed in a venv of its own."""

    def __init__(self, root: Path, venv: Path, package: str) -> None:
        self.root = root
        self.venv = venv
        self.package = package
        self.python = str(venv / "bin" / "python")

    def env(self, redis_url: str, **extra: str) -> dict[str, str]:
        """The environment of the project's processes, using this copy of its code."""
        return {"REDIS_URL": redis_url, "PYTHONPATH": str(self.root / "src"), **extra}

    def run(
        self, *args: str, env: dict[str, str], timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """`python -m <package> ...` in the project."""
        return subprocess.run(
            [self.python, "-m", self.package, *args],
            cwd=self.root,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def handler(self, relative: str, code: str) -> None:
        """Replace a user-owned handler with `code`."""
        path = self.root / "src" / self.package / "services" / relative
        assert path.is_file(), f"no handler stub at {path}"
        path.write_text(code)


# checkov pins `packaging<24`, which pytest 9 and kombu's redis extra cannot share one
# environment with, so it gets a venv of its own (built once, cached like project venvs).
CHECKOV = "checkov>=3.2,<4"


def tool_venv(name: str, requirement: str) -> Path:
    """A venv holding one command-line tool, cached by its requirement."""
    key = hashlib.sha256(requirement.encode()).hexdigest()[:16]
    venv = CACHE / f"tool-{name}-{key}"
    if not (venv / ".ok").exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        _pip(venv / "bin" / "python", "install", "-q", requirement)
        (venv / ".ok").write_text("ok")
    return venv / "bin" / name
