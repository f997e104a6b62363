# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""`python -m <package> dev`: every worker of the project at once, stopped together.

Each worker runs in a session of its own, so Ctrl-C reaches only this process,
which then stops them all the way Kubernetes would: SIGTERM to each worker,
time to finish (its grace period; a second Ctrl-C cuts it short), then SIGKILL
to whatever is left of its process group. One worker exiting on its own stops
the others too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType

from .info import PACKAGE, WorkerInfo
from .project import WORKERS


def run(workers: Sequence[WorkerInfo] = WORKERS) -> int:
    """Start the workers and wait; 0 after a clean stop, 1 when a worker stopped on its own."""
    stop, force = threading.Event(), threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # The first Ctrl-C stops the workers gracefully; a second one kills them.
        (force if stop.is_set() else stop).set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    procs: list[tuple[WorkerInfo, subprocess.Popen[bytes]]] = []
    failed = False
    try:
        for index, worker in enumerate(workers):
            proc = subprocess.Popen(
                [sys.executable, "-m", PACKAGE, *worker.args],
                start_new_session=True,
                env=_environment(index),
            )
            procs.append((worker, proc))
            print(
                f"dev: started {worker.name} (pid {proc.pid}): {' '.join(worker.args)}", flush=True
            )
        print("dev: every worker started; Ctrl-C stops them all", flush=True)
        while not stop.wait(0.2):
            for worker, proc in procs:
                if proc.poll() is not None:
                    print(
                        f"dev: {worker.name} exited with {proc.returncode}; stopping the others",
                        flush=True,
                    )
                    failed = True
                    stop.set()
                    break
    finally:
        _stop_all(procs, force)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 1 if failed else 0


def _environment(index: int) -> dict[str, str]:
    """The environment of the `index`th worker: with Prometheus metrics, a port of its own.

    The workers share this machine, so each serves `/metrics` on the base port
    (`OTEL_EXPORTER_PROMETHEUS_PORT`, 9464) plus its place in the list.
    """
    env = dict(os.environ)
    if "prometheus" in env.get("OTEL_METRICS_EXPORTER", ""):
        base = int(env.get("OTEL_EXPORTER_PROMETHEUS_PORT", "9464"))
        env["OTEL_EXPORTER_PROMETHEUS_PORT"] = str(base + index)
    return env


def _stop_all(
    procs: Sequence[tuple[WorkerInfo, subprocess.Popen[bytes]]], force: threading.Event
) -> None:
    for _, proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
    for worker, proc in procs:
        deadline = time.monotonic() + worker.grace_period
        while proc.poll() is None and time.monotonic() < deadline and not force.wait(0.1):
            pass
        if proc.poll() is None:
            why = (
                "a second Ctrl-C"
                if force.is_set()
                else f"it did not stop within {worker.grace_period} s"
            )
            print(f"dev: killing {worker.name}: {why}", flush=True)
        # Whatever is left of its process group (a prefork worker's children) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        print(f"dev: {worker.name} stopped", flush=True)
