"""Scheduler processes (`python -m runtime_double scheduler`) on a real Redis: replicas side
by side, one killed, a claim left behind, restarts after downtime with each missed policy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from purista.runtime import scheduler
from support import ROOT, Processes, wait_for

pytestmark = pytest.mark.e2e

CLAIM_TTL = "1"  # seconds: a claim left by a killed scheduler is fired again this soon


@pytest.fixture
def procs(redis_url: str, tmp_path: Path) -> Iterator[Any]:
    started = Processes()

    def start(*args: str, name: str, **extra: str) -> subprocess.Popen[bytes]:
        env = {
            "REDIS_URL": redis_url,
            "DOUBLE_RECORD": redis_url,
            "PYTHONPATH": str(ROOT / "tests"),
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_METRICS_EXPORTER": "none",
            "PURISTA_SCHEDULE_CLAIM_TTL": CLAIM_TTL,
            **extra,
        }
        proc = started.start(
            [sys.executable, "-m", "runtime_double", *args],
            cwd=ROOT / "tests",
            env=env,
            log=tmp_path / f"{name}.log",
        )
        proc.log = tmp_path / f"{name}.log"  # type: ignore[attr-defined]
        return proc

    yield start
    started.stop_all()


def _log(proc: subprocess.Popen[bytes]) -> str:
    return Path(proc.log).read_text()  # type: ignore[attr-defined]


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as Kubernetes stops a pod: the scheduler finishes and exits 0."""
    os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(15) == 0, _log(proc)


def _seconds(occurrence: str) -> int:
    stamp = occurrence.split("@", 1)[1]
    return int(time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone)


def test_two_schedulers_fire_each_occurrence_once_though_one_is_killed(
    procs: Any, client: redis.Redis
) -> None:
    worker = procs("worker", "greeter", name="worker")
    assert wait_for(lambda: "ready." in _log(worker), 60), _log(worker)
    first = procs("scheduler", "--schedule", "greetEach", name="first")
    # The second prints its spans and, when it stops, its metrics.
    second = procs(
        "scheduler",
        "--schedule",
        "greetEach",
        name="second",
        OTEL_TRACES_EXPORTER="console",
        OTEL_METRICS_EXPORTER="console",
    )
    # What a scheduler killed between claim and send leaves: a claim and nothing sent.
    ahead = int(time.time()) + 3
    claim = client.register_script(scheduler._CLAIM)
    assert claim(keys=scheduler.keys("greetEach", ahead), args=["killed", 1000, ahead]) == 1
    time.sleep(3.5)
    os.killpg(first.pid, signal.SIGKILL)
    time.sleep(3.5)
    _terminate(second)
    queue = "rtdouble.greeter.v1"
    assert wait_for(lambda: client.llen(queue) == 0, 30)
    time.sleep(0.5)  # the last message taken is handled
    calls = [json.loads(c) for c in client.lrange("double:calls:greet", 0, -1)]
    fired = sorted(_seconds(c["occurrence"]) for c in calls)
    assert len(fired) >= 5, calls
    assert len(set(fired)) == len(fired), "an occurrence reached the worker twice"
    assert fired == list(range(fired[0], fired[-1] + 1)), "an occurrence was lost"
    assert ahead in fired  # the claim left behind was fired by a living scheduler
    assert "the claim of greetEach" in _log(first) + _log(second)
    # A span per firing, and the firings counted.
    assert '"name": "schedule greetEach"' in _log(second)
    assert '"purista.occurrence": "greetEach@' in _log(second)
    assert "purista.schedule.fired" in _log(second)


def _fired(client: redis.Redis, schedule: str) -> list[int]:
    """The occurrences of `schedule` enqueued as `work` jobs (one job per idempotency key)."""
    out = []
    for key in client.scan_iter(f"rtdouble:jobs:work:key:{schedule}@*"):
        message = client.hget(f"rtdouble:job:{client.get(key).decode()}", "message")
        out.append(_seconds(json.loads(message)["occurrence_id"]))
    return sorted(out)


def _contiguous(times: list[int]) -> bool:
    return times == list(range(times[0], times[-1] + 1))


def test_a_restart_after_downtime_fires_one_run_for_the_gap_or_none(
    procs: Any, client: redis.Redis, redis_url: str
) -> None:
    # One process fires both schedules (every second, `work`): the same looks, the same times.
    args = ("scheduler", "--schedule", "workEach", "--schedule", "workEachSkip")
    before = procs(*args, name="before")
    time.sleep(3)
    _terminate(before)
    stopped = time.time()
    time.sleep(3)
    after = procs(*args, name="after")
    time.sleep(3)
    _terminate(after)

    skip, once = _fired(client, "workEachSkip"), _fired(client, "workEach")
    skip_before, skip_after = [t for t in skip if t < stopped], [t for t in skip if t > stopped]
    once_before, once_after = [t for t in once if t < stopped], [t for t in once if t > stopped]
    assert skip_before and skip_after and once_before and once_after, (skip, once)
    assert all(map(_contiguous, (skip_before, skip_after, once_before, once_after)))
    # skip: nothing of the 3 s without a scheduler; the first run after it is on time.
    assert skip_after[0] - skip_before[-1] >= 3
    # run_once: one run for the whole gap, the latest missed occurrence, fired with the
    # first one on time (the one `skip` fired first).
    assert once_after[0] == skip_after[0] - 1
    assert once_after[0] - once_before[-1] >= 2
    times = once

    shown = subprocess.run(
        [sys.executable, "-m", "runtime_double", "stats", "--json"],
        cwd=ROOT / "tests",
        env={**os.environ, "REDIS_URL": redis_url, "PYTHONPATH": str(ROOT / "tests")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    status = json.loads(shown.stdout)["schedules"]
    assert _seconds(status["workEach"]["last"]) == times[-1]
    assert status["workEach"]["next"].startswith("workEach@")
    assert status["nightly"]["last"] is None
