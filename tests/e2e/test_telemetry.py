"""Traces and metrics with real workers, exported to the console and read back from their logs."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from support import ROOT, Processes, Project, project_venv, purista, wait_for

pytestmark = pytest.mark.e2e

HANDLERS = {
    "front/v1/commands/start.py": """
def handle(context, payload):
    found = context.invoke.back.v1.lookup({"id": payload.id})
    context.emit.started({"id": payload.id})
    context.queue.enqueue.later({"id": payload.id}, delay=1)
    return {"name": found.name}
""",
    "front/v1/commands/fail.py": """
def handle(context, payload):
    raise ValueError("this command always fails")
""",
    "back/v1/commands/lookup.py": """
def handle(context, payload):
    if payload.id == "bad":
        raise KeyError(payload.id)
    return {"name": "thing " + payload.id}
""",
    "back/v1/queues/later.py": """
def handle(context, job):
    return None
""",
    "alpha/v1/subscriptions/on_started_a.py": """
def handle(context, event):
    return None
""",
    "beta/v1/subscriptions/on_started_b.py": """
def handle(context, event):
    return None
""",
}


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Project:
    base = tmp_path_factory.mktemp("traced")
    spec = ROOT / "tests" / "specs" / "tracing.yaml"
    result = purista("new", "traced", "--spec", str(spec), "--output", str(base))
    assert result.returncode == 0, result.stderr
    project = Project(base / "traced", project_venv(base / "traced"), "traced")
    for relative, code in HANDLERS.items():
        project.handler(relative, code)
    return project


@pytest.fixture
def workers(
    traced: Project, redis_url: str, processes: Processes, tmp_path: Path
) -> Iterator[dict[str, Path]]:
    env = traced.env(
        redis_url,
        OTEL_TRACES_EXPORTER="console",
        OTEL_METRICS_EXPORTER="console",
        OTEL_METRIC_EXPORT_INTERVAL="500",
    )
    logs: dict[str, Path] = {}
    for name, args in {
        "front": ["front"],
        "back": ["back"],
        "alpha": ["alpha"],
        "beta": ["beta"],
        "later": ["--queue", "later"],
    }.items():
        logs[name] = tmp_path / f"{name}.log"
        proc = processes.start(
            [traced.python, "-m", "traced", "worker", *args],
            cwd=traced.root,
            env=env,
            log=logs[name],
        )
        (tmp_path / f"{name}.pid").write_text(str(proc.pid))
    assert wait_for(
        lambda: all("ready" in logs[n].read_text() for n in ("front", "back", "alpha", "beta")), 60
    )
    yield logs
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter("traced*"):
        client.delete(key)


def objects(text: str) -> list[dict[str, Any]]:
    """Every top-level JSON object in a stream of log lines and exporter output."""
    decoder, found, index = json.JSONDecoder(), [], 0
    while (start := text.find("{", index)) >= 0:
        try:
            value, index = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            index = start + 1
            continue
        if isinstance(value, dict):
            found.append(value)
    return found


def spans(*logs: Path) -> list[dict[str, Any]]:
    return [o for log in logs for o in objects(log.read_text()) if "context" in o and "kind" in o]


def invoke(
    project: Project, env: dict[str, str], target: str, payload: dict[str, Any], *extra: str
) -> subprocess.CompletedProcess[str]:
    return project.run("invoke", target, json.dumps(payload), *extra, env=env, timeout=60)


def test_one_trace_follows_invokes_events_and_delayed_jobs(
    traced: Project, redis_url: str, workers: dict[str, Path], tmp_path: Path
) -> None:
    env = traced.env(redis_url, OTEL_TRACES_EXPORTER="console", OTEL_METRICS_EXPORTER="none")
    result = invoke(
        traced, env, "front.v1.start", {"id": "42"}, "--principal", "p-1", "--tenant", "t-1"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"name": "thing 42"}
    client_log = tmp_path / "cli.log"
    client_log.write_text(result.stderr)
    logs = [client_log, *workers.values()]
    wanted = {
        "invoke front.v1.start",
        "command front.v1.start",
        "invoke back.v1.lookup",
        "command back.v1.lookup",
        "event_bridge.route",
        "subscription alpha.v1.onStartedA",
        "subscription beta.v1.onStartedB",
        "queue later",
    }
    assert wait_for(lambda: wanted <= {s["name"] for s in spans(*logs)}, 30), sorted(
        s["name"] for s in spans(*logs)
    )
    found = spans(*logs)
    ours = {s["name"]: s for s in found if s["name"] in wanted}
    assert len({s["context"]["trace_id"] for s in ours.values()}) == 1

    by_id = {s["context"]["span_id"]: s for s in found}

    def ancestors(span: dict[str, Any]) -> list[str]:
        names = []
        while span.get("parent_id") in by_id:
            span = by_id[span["parent_id"]]
            names.append(span["name"])
        return names

    assert (
        ours["invoke front.v1.start"].get("parent_id") is None
    )  # the first caller starts the trace
    assert "invoke front.v1.start" in ancestors(ours["command front.v1.start"])
    assert ancestors(ours["command back.v1.lookup"])[:3] == [
        "run/back.v1.lookup",
        "apply_async/back.v1.lookup",
        "invoke back.v1.lookup",
    ]
    assert "command front.v1.start" in ancestors(ours["invoke back.v1.lookup"])
    assert by_id[ours["event_bridge.route"]["parent_id"]]["name"] == "command front.v1.start"
    for name in ("subscription alpha.v1.onStartedA", "subscription beta.v1.onStartedB"):
        assert "event_bridge.route" in ancestors(ours[name])
    assert by_id[ours["queue later"]["parent_id"]]["name"] == "command front.v1.start"

    command = ours["command front.v1.start"]["attributes"]
    assert command["purista.service"] == "front"
    assert command["purista.version"] == "1"
    assert command["purista.command"] == "start"
    assert command["messaging.destination.name"] == "traced.front.v1"
    assert command["purista.principal_id"] == "p-1" and command["purista.tenant_id"] == "t-1"
    assert (
        ours["subscription alpha.v1.onStartedA"]["attributes"]["purista.subscription"]
        == "onStartedA"
    )
    assert ours["subscription beta.v1.onStartedB"]["attributes"]["purista.principal_id"] == "p-1"
    job = ours["queue later"]["attributes"]
    assert (
        job["purista.queue"] == "later"
        and job["purista.attempt"] == 1
        and job["purista.tenant_id"] == "t-1"
    )
    # front runs a prefork pool: its spans come from a child process, not the worker's main one.
    front = ours["command front.v1.start"]["resource"]["attributes"]
    assert front["service.name"] == "traced-front"
    main_pid = (workers["front"].parent / "front.pid").read_text()
    assert not front["service.instance.id"].endswith(f"-{main_pid}")
    # Logs carry the trace id.
    trace_id = ours["command front.v1.start"]["context"]["trace_id"].removeprefix("0x")
    assert f"trace {trace_id}" in workers["front"].read_text()


def test_a_failing_handler_span_has_error_status(
    traced: Project, redis_url: str, workers: dict[str, Path]
) -> None:
    env = traced.env(redis_url, OTEL_TRACES_EXPORTER="none")
    result = invoke(traced, env, "front.v1.fail", {})
    assert result.returncode == 1 and "ValueError: this command always fails" in result.stderr

    def failed() -> list[dict[str, Any]]:
        return [s for s in spans(workers["front"]) if s["name"] == "command front.v1.fail"]

    assert wait_for(failed, 30)
    span = failed()[0]
    assert span["status"]["status_code"] == "ERROR"
    assert any(
        e["name"] == "exception" and e["attributes"]["exception.type"] == "ValueError"
        for e in span["events"]
    )


def metric_points(log: Path, name: str) -> list[dict[str, Any]]:
    """The data points of the newest export of metric `name` in a worker's log."""
    points: list[dict[str, Any]] = []
    for batch in objects(log.read_text()):
        for resource in batch.get("resource_metrics", []):
            for scope in resource["scope_metrics"]:
                for metric in scope["metrics"]:
                    if metric["name"] == name:
                        points = metric["data"]["data_points"]
    return points


def test_metrics_count_every_message_and_failure(
    traced: Project, redis_url: str, workers: dict[str, Path]
) -> None:
    env = traced.env(redis_url, OTEL_TRACES_EXPORTER="none")
    for i in range(5):
        assert invoke(traced, env, "back.v1.lookup", {"id": str(i)}).returncode == 0
    for _ in range(2):
        assert invoke(traced, env, "back.v1.lookup", {"id": "bad"}).returncode == 1

    def counted(name: str, outcome: str | None = None) -> float:
        return sum(
            p["value"]
            for p in metric_points(workers["back"], name)
            if p["attributes"].get("purista.command") == "lookup"
            and (outcome is None or p["attributes"].get("purista.outcome") == outcome)
        )

    assert wait_for(lambda: counted("purista.messages.processed") == 7, 20)
    assert counted("purista.messages.processed", "success") == 5
    assert counted("purista.messages.failed") == 2
    durations = [
        p
        for p in metric_points(workers["back"], "purista.message.duration")
        if p["attributes"].get("purista.command") == "lookup"
    ]
    assert sum(p["count"] for p in durations) == 7
    # No ids or payloads in the attributes.
    for point in metric_points(workers["back"], "purista.messages.processed"):
        assert set(point["attributes"]) <= {
            "purista.service",
            "purista.version",
            "purista.command",
            "purista.subscription",
            "purista.queue",
            "purista.outcome",
        }


def test_queue_gauges_report_what_redis_holds(
    traced: Project, redis_url: str, workers: dict[str, Path]
) -> None:
    env = traced.env(redis_url, OTEL_TRACES_EXPORTER="none")
    for i in range(3):
        assert (
            traced.run(
                "enqueue", "later", json.dumps({"id": str(i)}), "--delay", "60", env=env
            ).returncode
            == 0
        )

    def scheduled() -> float | None:
        points = metric_points(workers["later"], "purista.queue.scheduled")
        return points[0]["value"] if points else None

    assert wait_for(lambda: scheduled() == 3, 20)
    assert redis.Redis.from_url(redis_url).zcard("traced:jobs:later:scheduled") == 3
    pending = metric_points(workers["later"], "purista.queue.pending")
    assert (
        pending
        and pending[0]["attributes"] == {"purista.queue": "later"}
        and pending[0]["value"] == 0
    )
