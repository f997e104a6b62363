"""What the fault tests drive: a Redis of their own (restarted, frozen, thawed) and worker
processes of the runtime, run on the double of a project (`tests/runtime_double`)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis
import runtime_double
from support import ROOT, Processes, free_port, wait_for

runtime_double.install()


class Server:
    """A redis-server of one test, with AOF on: restarted, frozen and thawed at will."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is needed to restart Redis")
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        if not wait_for(lambda: self.client().ping(), 10, 0.05):
            raise RuntimeError("redis-server did not start")

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5)

    def restart(self, down: float = 0.5) -> None:
        """`SHUTDOWN NOSAVE`, `down` seconds without Redis, then the same port again (AOF kept)."""
        assert self.proc is not None
        try:
            self.client().shutdown(nosave=True)
        except redis.ConnectionError:
            pass
        self.proc.wait(10)
        time.sleep(down)
        self.start()

    def freeze(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.terminate()
            self.proc.wait(10)


class Workers:
    """Worker processes of the double (`python -m runtime_double worker ...`)."""

    def __init__(self, server: Server, logs: Path) -> None:
        self.server = server
        self.logs = logs
        self.procs = Processes()
        self.count = 0

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "REDIS_URL": self.server.url,
            "DOUBLE_RECORD": self.server.url,
            "PYTHONPATH": str(ROOT / "tests"),
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_METRICS_EXPORTER": "none",
            **extra,
        }

    def start(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        self.count += 1
        log = self.logs / f"worker-{self.count}.log"
        proc = self.procs.start(
            [sys.executable, "-m", "runtime_double", "worker", *args],
            cwd=ROOT / "tests",
            env=self.env(**env),
            log=log,
        )
        proc.log = log  # type: ignore[attr-defined]
        return proc

    def ready(self, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
        """Wait until a worker takes work (a Celery worker logs `ready`)."""
        marker = ("ready.", "worker for job queue")
        log: Path = proc.log  # type: ignore[attr-defined]
        if not wait_for(lambda: any(m in log.read_text() for m in marker), timeout, 0.1):
            raise AssertionError(f"worker did not start:\n{log.read_text()}")

    def cli(
        self, *args: str, timeout: float = 60, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "runtime_double", *args],
            cwd=ROOT / "tests",
            env={**os.environ, **self.env()},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def calls(server: Server, handler: str) -> list[dict[str, Any]]:
    """What the double's `handler` recorded, in order."""
    return [json.loads(line) for line in server.client().lrange(f"double:calls:{handler}", 0, -1)]
