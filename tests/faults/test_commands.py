"""Commands under faults: deadlines with Redis frozen, hung handlers, exit codes, what is logged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from faults.harness import Server, Workers, calls
from purista.runtime import errors
from purista.runtime.app import get_bridge
from purista.runtime.context import Message
from purista.runtime.project import COMMANDS
from runtime_double.models import GreetOutput
from support import wait_for

pytestmark = pytest.mark.faults

GREET = COMMANDS["greeter.v1.greet"]


def invoke(payload: dict[str, object], timeout: float | None = None) -> GreetOutput:
    target = GREET if timeout is None else GREET.__class__(GREET.task, GREET.queue, timeout)
    return get_bridge().invoke(target, payload, GreetOutput, Message.first())


def health(directory: str, kind: str = "live", max_age: float = 2.0) -> int:
    return subprocess.run(
        [sys.executable, "-m", "purista.runtime.health", kind, "--max-age", str(max_age)],
        env={**os.environ, "PURISTA_HEALTH_DIR": directory},
        capture_output=True,
        check=False,
    ).returncode


def test_a_threads_worker_takes_the_next_command_as_soon_as_its_slot_frees(
    server: Server, workers: Workers
) -> None:
    workers.ready(workers.start("greeter", "--pool", "threads", "--concurrency", "1"))
    invoke({"name": "first"})
    slowest = 0.0
    for i in range(5):
        started = time.monotonic()
        invoke({"name": f"next{i}"})
        slowest = max(slowest, time.monotonic() - started)
    assert slowest < 0.5, slowest  # the worker's loop woke when the slot freed


def test_an_invoke_holds_its_deadline_while_redis_is_frozen(server: Server) -> None:
    get_bridge()
    server.freeze()
    try:
        started = time.monotonic()
        with pytest.raises(errors.InvokeTimeout, match="did not answer in time"):
            invoke({"name": "x"}, timeout=2.0)
        assert time.monotonic() - started < 2.0 + 1.0
    finally:
        server.thaw()


def test_an_invoke_holds_its_deadline_when_redis_freezes_while_it_waits(server: Server) -> None:
    # Nobody consumes the queue: the invoke is sent, then waits while Redis is frozen.
    timer = threading.Timer(0.3, server.freeze)
    timer.start()
    try:
        started = time.monotonic()
        with pytest.raises(errors.InvokeTimeout, match="no worker of"):
            invoke({"name": "x"}, timeout=2.0)
        assert time.monotonic() - started < 2.0 + 1.0
    finally:
        timer.join()
        server.thaw()


def test_the_invoke_command_line_holds_its_timeout_while_redis_is_frozen(
    server: Server, workers: Workers
) -> None:
    server.freeze()
    try:
        started = time.monotonic()
        result = workers.cli("invoke", GREET.task, '{"name": "x"}', "--timeout", "3")
        elapsed = time.monotonic() - started
    finally:
        server.thaw()
    assert result.returncode == 1
    assert "InvokeTimeout" in result.stderr
    assert elapsed < 3 + 1 + 2, elapsed  # its deadline, a second, and the interpreter's start


def test_a_hung_command_is_stopped_at_its_time_limit_and_its_slot_works_again(
    server: Server, workers: Workers
) -> None:
    workers.ready(workers.start("greeter", "--pool", "prefork", "--concurrency", "1"))
    with pytest.raises(errors.InvokeTimeout, match="took it in time, or its handler ran longer"):
        invoke({"name": "hung", "sleep": 60})
    # Its soft limit is the command's timeout: the handler is interrupted, the slot freed.
    started = time.monotonic()
    assert invoke({"name": "after"}, timeout=15).greeting == "hello after"
    assert time.monotonic() - started < 3 + 5 + 2  # soft limit, hard limit and a margin


def test_a_threads_worker_whose_every_slot_hangs_fails_liveness_and_ends_on_sigterm(
    server: Server, workers: Workers, tmp_path_factory: pytest.TempPathFactory
) -> None:
    directory = str(tmp_path_factory.mktemp("health"))
    worker = workers.start(
        "greeter",
        "--pool",
        "threads",
        "--concurrency",
        "2",
        PURISTA_HEALTH_DIR=directory,
        PURISTA_HEARTBEAT_INTERVAL="0.5",
    )
    workers.ready(worker)
    assert wait_for(lambda: health(directory) == 0, 10, 0.1)
    for name in ("a", "b"):
        with pytest.raises(errors.InvokeTimeout):
            invoke({"name": name, "sleep": 60}, timeout=0.5)
    # Both slots hang past the command's 3 s timeout: the heartbeat stops.
    assert wait_for(lambda: health(directory) == 1, 3 + 2 + 5, 0.2)
    worker.send_signal(signal.SIGTERM)
    # A thread cannot be stopped: the worker gives up the warm shutdown past its longest timeout.
    assert worker.wait(3 + 5 + 10) == 1
    assert "handlers still run" in worker.log.read_text()  # type: ignore[attr-defined]


def test_a_worker_that_crashes_exits_non_zero(server: Server, workers: Workers) -> None:
    worker = workers.start("greeter", "--pool", "threads")
    workers.ready(worker)
    # Someone overwrites the service's queue with a string: Celery's consumer cannot go on.
    server.client().set(GREET.queue, "not a list")
    assert worker.wait(30) == 1
    assert "Unrecoverable error" in worker.log.read_text()  # type: ignore[attr-defined]


def test_command_outputs_and_payloads_are_not_logged_at_info(
    server: Server, workers: Workers
) -> None:
    worker = workers.start("greeter", "--pool", "threads")
    workers.ready(worker)
    assert invoke({"name": "ada@example.org"}).name == "ada@example.org"
    assert wait_for(lambda: calls(server, "greet"), 5, 0.05)
    time.sleep(0.5)
    assert "ada@example.org" not in worker.log.read_text()  # type: ignore[attr-defined]


def test_the_worker_logs_each_task_at_debug(server: Server, workers: Workers) -> None:
    worker = workers.start("greeter", "--pool", "threads", "--loglevel", "debug")
    workers.ready(worker)
    invoke({"name": "visible"})
    assert wait_for(
        lambda: "succeeded" in worker.log.read_text(),  # type: ignore[attr-defined]
        5,
        0.05,
    )
