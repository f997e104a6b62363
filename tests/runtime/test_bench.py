"""`python -m <package> bench` against real worker processes of the double: the numbers it
prints and keeps agree with what the workers did (consistency, not speed)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from faults.harness import Workers


@pytest.fixture
def workers(redis_url: str, tmp_path: Path) -> Iterator[Workers]:
    """Worker processes on the test run's Redis, stopped at the end of the test."""
    (tmp_path / "logs").mkdir()
    w = Workers(SimpleNamespace(url=redis_url), tmp_path / "logs")  # type: ignore[arg-type]
    yield w
    w.procs.stop_all()


def bench(workers: Workers, tmp_path: Path, *args: str) -> dict[str, Any]:
    result = workers.cli(
        "bench", *args, "--json", "--measurements", str(tmp_path / "measurements.json"), timeout=120
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_a_command_at_a_fixed_rate(workers: Workers, tmp_path: Path) -> None:
    workers.ready(workers.start("shouter", "--pool", "threads", "--concurrency", "4"))
    figures = bench(workers, tmp_path, "shouter.v1.shout", "--rate", "40", "--duration", "2")
    assert figures["sent"] == 80
    assert figures["errors"] == {}
    assert 30 <= figures["throughput"] <= 45  # the rate asked for, as far as it was met
    service = figures["service_time"]["shouter.v1.shout"]
    assert service["samples"] == 80  # the worker noted each one
    latency = figures["latency"]
    assert 0 < service["p50"] < latency["p50"]  # a round trip includes the handler's time
    assert latency["p50"] <= latency["p95"] <= latency["p99"]
    assert len(figures["latency_over_time"]) == 80
    kept = json.loads((tmp_path / "measurements.json").read_text())
    entry = kept["handlers"]["shouter.v1.shout"]
    assert entry["samples"] == 80
    assert entry["service_time"]["p95"] == service["p95"]
    assert entry["worker_concurrency"] == 4


def test_an_event_reaches_every_subscription_and_each_is_measured(
    workers: Workers, tmp_path: Path
) -> None:
    for service in ("greeter", "shouter"):
        workers.ready(workers.start(service, "--pool", "threads"))
    figures = bench(workers, tmp_path, "greeted", "--max", "--duration", "1", "--concurrency", "4")
    sent = figures["sent"]
    assert sent > 0
    times = figures["service_time"]
    assert set(times) == {"greeter.v1.audit", "shouter.v1.count"}
    assert times["greeter.v1.audit"]["samples"] == times["shouter.v1.count"]["samples"] == sent
    assert figures["backlog_at_end"] >= 0
    assert figures["latency"]["p50"] is not None


def test_a_job_queue_and_a_plot(workers: Workers, tmp_path: Path) -> None:
    workers.ready(workers.start("--queue", "work", "--concurrency", "2"))
    plot = tmp_path / "latency.png"
    figures = bench(
        workers, tmp_path, "work", "--rate", "50", "--duration", "1", "--plot", str(plot)
    )
    assert figures["service_time"]["work"]["samples"] == figures["sent"] == 50
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_unknown_target_is_one_line_and_exit_2(workers: Workers) -> None:
    result = workers.cli("bench", "shouter.v1.shou")
    assert result.returncode == 2
    assert result.stderr.strip().endswith("did you mean shouter.v1.shout?")
