"""Events under faults: failing handlers, lost workers, Redis restarts: at least once, or parked."""

from __future__ import annotations

import itertools
import os
import signal
import time

import pytest
from faults.harness import Server, Workers, calls
from purista.runtime.app import get_bridge, get_jobs
from purista.runtime.context import Message
from purista.runtime.project import SUBSCRIPTIONS
from support import wait_for

pytestmark = pytest.mark.faults

AUDIT = SUBSCRIPTIONS["rtdouble.greeter.v1.audit"]
COUNT = SUBSCRIPTIONS["rtdouble.shouter.v1.count"]
#: The visibility timeout the workers of these tests run with, and kombu's sweep period.
VISIBILITY = 8.0
SWEEP = 10.0


def emit(name: str) -> None:
    get_bridge().emit("greeted", {"name": name}, Message.first())


def names(server: Server, handler: str) -> list[str]:
    return [c["name"] for c in calls(server, handler)]


def start(workers: Workers, service: str, *args: str) -> object:
    worker = workers.start(service, *args, PURISTA_VISIBILITY_TIMEOUT=str(VISIBILITY))
    workers.ready(worker)
    return worker


def test_a_failing_subscription_is_retried_then_parked_and_can_be_redriven_and_purged(
    server: Server, workers: Workers
) -> None:
    start(workers, "greeter", "--pool", "threads")
    start(workers, "shouter", "--pool", "threads")
    emit("poison")
    attempts = AUDIT.max_attempts
    assert wait_for(lambda: get_jobs().stats(AUDIT)["dead_letters"] == 1, 20, 0.1)
    runs = [c for c in calls(server, "audit") if c["name"] == "poison"]
    assert len(runs) == attempts
    gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(runs)]
    for attempt, gap in enumerate(gaps, start=1):  # each retry waited at least its backoff
        assert gap >= AUDIT.backoff_initial * AUDIT.backoff_factor ** (attempt - 1) * 0.95
    assert names(server, "count") == ["poison"]  # the other subscription got it once
    (parked,) = get_jobs().dead_letters(AUDIT)
    assert parked["payload"] == {"name": "poison"}
    assert parked["last_error"] == "RuntimeError: poisoned"
    assert parked["attempt"] == attempts

    listed = workers.cli("dlq", "list", AUDIT.name)
    assert listed.returncode == 0, listed.stderr
    assert '"last_error": "RuntimeError: poisoned"' in listed.stdout
    stats = workers.cli("stats", "--json")
    assert '"dead_letters": 1' in stats.stdout

    redrive = workers.cli("dlq", "redrive", AUDIT.name)
    assert redrive.returncode == 0, redrive.stderr
    assert "redrove 1 events" in redrive.stdout
    assert wait_for(lambda: len(names(server, "audit")) == 2 * attempts, 20, 0.1)
    assert wait_for(lambda: get_jobs().stats(AUDIT)["dead_letters"] == 1, 20, 0.1)

    purge = workers.cli("dlq", "purge", AUDIT.name)
    assert "purged 1" in purge.stdout
    assert get_jobs().stats(AUDIT)["dead_letters"] == 0
    assert names(server, "count") == ["poison"]


def test_an_event_that_kills_its_worker_process_is_parked_after_max_attempts(
    server: Server, workers: Workers
) -> None:
    start(workers, "greeter", "--pool", "prefork", "--concurrency", "1")
    emit("crash")
    assert wait_for(lambda: get_jobs().stats(AUDIT)["dead_letters"] == 1, 40, 0.2)
    time.sleep(2)
    crashes = names(server, "audit").count("crash")
    assert crashes == AUDIT.max_attempts  # not delivered for ever
    (parked,) = get_jobs().dead_letters(AUDIT)
    assert "worker was lost" in parked["last_error"]
    emit("after")  # the worker still works
    assert wait_for(lambda: "after" in names(server, "audit"), 20, 0.1)


def test_an_event_on_a_killed_worker_comes_back_within_the_visibility_timeout_and_a_sweep(
    server: Server, workers: Workers
) -> None:
    first = start(workers, "greeter", "--pool", "threads")
    emit("slow3")
    assert wait_for(lambda: "slow3" in names(server, "audit"), 10, 0.02)
    killed = time.monotonic()
    os.killpg(first.pid, signal.SIGKILL)  # type: ignore[attr-defined]
    start(workers, "greeter", "--pool", "threads")
    assert wait_for(lambda: names(server, "audit").count("slow3") == 2, VISIBILITY + SWEEP + 5, 0.1)
    again = time.monotonic() - killed
    assert again <= VISIBILITY + SWEEP + 2, again


@pytest.mark.parametrize("pool", ["threads", "prefork"])
def test_a_redis_restart_during_an_event_keeps_the_worker_and_runs_the_event_once(
    server: Server, workers: Workers, pool: str
) -> None:
    worker = start(workers, "greeter", "--pool", pool, "--concurrency", "2")
    emit("slow3")
    assert wait_for(lambda: "slow3" in names(server, "audit"), 10, 0.02)
    server.restart(down=1.0)
    time.sleep(VISIBILITY + SWEEP + 3)  # long enough for any second delivery to show
    assert worker.poll() is None, worker.log.read_text()  # type: ignore[attr-defined]
    assert names(server, "audit").count("slow3") == 1
    emit("after")
    assert wait_for(lambda: "after" in names(server, "audit"), 20, 0.1)
