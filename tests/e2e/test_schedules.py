"""Schedules end to end: a generated project's scheduler, two replicas of it, real workers."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
import redis
from support import Processes, Project, project_venv, purista, wait_for

pytestmark = pytest.mark.e2e

SPEC = """
spec_version: 1
project: {name: ticker}
events:
  tick: {payload: {type: object, properties: {n: {type: integer}}, required: [n]}}
services:
  reports:
    commands:
      cleanUp:
        payload: {type: object, properties: {days: {type: integer}}, required: [days]}
    subscriptions:
      onTick: {event: tick}
    queues:
      buildReport:
        payload: {type: object, properties: {day: {type: string}}, required: [day]}
schedules:
  build: {every: 1, enqueue: buildReport, payload: {day: today}}
  clean: {every: 1, invoke: reports.v1.cleanUp, payload: {days: 30}}
  beat: {every: 1, emit: tick, payload: {n: 1}}
  nightly: {cron: "0 3 * * *", timezone: Europe/Berlin, emit: tick, payload: {n: 2}}
"""

RECORD = """
import os as _os

import redis as _redis

_client = _redis.Redis.from_url(_os.environ["REDIS_URL"])


def record(name, context):
    _client.rpush("test:" + name, context.message.occurrence_id or "-")
"""

HANDLERS = {
    "commands/clean_up.py": "def handle(context, payload):\n    record('clean', context)\n",
    "subscriptions/on_tick.py": "def handle(context, event):\n    record('beat', context)\n",
    "queues/build_report.py": "def handle(context, job):\n    record('build', context)\n",
}


@pytest.fixture(scope="module")
def ticker(tmp_path_factory: pytest.TempPathFactory) -> Project:
    base = tmp_path_factory.mktemp("ticker")
    (base / "ticker.yaml").write_text(SPEC)
    result = purista("new", "ticker", "--spec", str(base / "ticker.yaml"), "--output", str(base))
    assert result.returncode == 0, result.stderr
    project = Project(base / "ticker", project_venv(base / "ticker"), "ticker")
    for relative, code in HANDLERS.items():
        project.handler(f"reports/v1/{relative}", RECORD + code)
    return project


def test_two_schedulers_of_a_project_send_each_occurrence_once(
    ticker: Project, redis_url: str, processes: Processes, tmp_path: Path
) -> None:
    env = ticker.env(redis_url, OTEL_TRACES_EXPORTER="none")
    client = redis.Redis.from_url(redis_url)

    def start(name: str, *args: str) -> object:
        return processes.start(
            [ticker.python, "-m", "ticker", *args],
            cwd=ticker.root,
            env=env,
            log=tmp_path / f"{name}.log",
        )

    start("worker", "worker", "reports")
    start("jobs", "worker", "--queue", "buildReport")
    assert wait_for(lambda: "ready." in (tmp_path / "worker.log").read_text(), 60)
    schedulers = [start(f"scheduler-{i}", "scheduler") for i in (1, 2)]
    time.sleep(4)
    for proc in schedulers:
        os.killpg(proc.pid, signal.SIGTERM)  # type: ignore[attr-defined]
        assert proc.wait(15) == 0  # type: ignore[attr-defined]
    assert wait_for(lambda: client.llen("ticker.reports.v1") == 0, 30)
    time.sleep(1)
    for name in ("build", "clean", "beat"):
        fired = [x.decode() for x in client.lrange(f"test:{name}", 0, -1)]
        assert len(fired) >= 2 and all(f.startswith(f"{name}@") for f in fired), fired
        assert len(set(fired)) == len(fired), f"{name}: an occurrence was handled twice"
    stats = ticker.run("stats", "--json", env=env)
    assert stats.returncode == 0, stats.stderr
    shown = json.loads(stats.stdout)["schedules"]
    assert shown["build"]["last"] == max(x.decode() for x in client.lrange("test:build", 0, -1))
    assert shown["nightly"]["last"] is None and shown["nightly"]["next"].endswith(":00:00Z")
    for key in [*client.scan_iter("ticker:*"), *client.scan_iter("test:*")]:
        client.delete(key)
