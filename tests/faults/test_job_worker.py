"""A job worker under faults: Redis restarts while jobs run, a thread that crashes, SIGTERM."""

from __future__ import annotations

import signal
import time

import pytest
from faults.harness import Server, Workers, calls
from purista.runtime.app import get_jobs
from purista.runtime.context import Message
from purista.runtime.project import QUEUES
from support import wait_for

pytestmark = pytest.mark.faults

WORK = QUEUES["work"]


def enqueue(task: str, seconds: float = 0.0) -> str:
    return get_jobs().enqueue(WORK, {"task": task, "seconds": seconds}, Message.first().to_header())


def status(job_id: str) -> str | None:
    record = get_jobs().get(job_id)
    return None if record is None else record["status"]


def test_a_redis_restart_while_jobs_run_loses_neither_the_jobs_nor_a_thread(
    server: Server, workers: Workers
) -> None:
    worker = workers.start("--queue", "work", "--concurrency", "2")
    workers.ready(worker)
    first = [enqueue("ok", 2.0), enqueue("ok", 2.0)]
    assert wait_for(lambda: len(calls(server, "work")) == 2, 10, 0.05)
    server.restart(down=1.0)  # both jobs record their outcome after Redis came back
    assert wait_for(lambda: all(status(j) == "succeeded" for j in first), 20, 0.1)
    # Both threads still work: two more jobs run side by side.
    second = [enqueue("ok", 1.5), enqueue("ok", 1.5)]
    assert wait_for(lambda: all(status(j) == "succeeded" for j in second), 20, 0.1)
    runs = {c["id"]: c for c in calls(server, "work")}
    assert sorted(runs) == sorted(first + second)  # each job ran once
    assert abs(runs[second[0]]["at"] - runs[second[1]]["at"]) < 1.0
    workers.procs.stop(worker, signal.SIGTERM)
    log = worker.log.read_text()  # type: ignore[attr-defined]
    assert worker.returncode == 0, log
    assert "Exception in thread" not in log
    assert "Redis cannot be reached" in log and "Redis is back" in log


def test_a_thread_that_crashes_stops_the_worker_with_exit_1_and_stops_the_heartbeat(
    server: Server, workers: Workers, tmp_path_factory: pytest.TempPathFactory
) -> None:
    health = tmp_path_factory.mktemp("health")
    worker = workers.start(
        "--queue",
        "work",
        "--concurrency",
        "2",
        PURISTA_HEALTH_DIR=str(health),
        PURISTA_HEARTBEAT_INTERVAL="0.5",
    )
    workers.ready(worker)
    assert wait_for((health / "heartbeat").exists, 5, 0.05)
    enqueue("exit")
    assert worker.wait(15) == 1
    log = worker.log.read_text()  # type: ignore[attr-defined]
    assert "crashed; the worker stops" in log
    beat = (health / "heartbeat").stat().st_mtime
    assert not (health / "ready").exists()
    assert time.time() - beat < 5  # it beat until the crash, and not after:
    time.sleep(1.5)
    assert (health / "heartbeat").stat().st_mtime == beat


def test_a_worker_stopped_by_sigterm_finishes_its_job_and_exits_0(
    server: Server, workers: Workers
) -> None:
    worker = workers.start("--queue", "work")
    workers.ready(worker)
    job = enqueue("ok", 1.5)
    assert wait_for(lambda: calls(server, "work"), 10, 0.05)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(15) == 0
    assert status(job) == "succeeded"
