"""The Prometheus endpoint of a worker (`metrics`): labels; a prefork worker's children as one."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from purista.runtime import metrics
from support import free_port


def child_file(folder: Path, index: int, value: float) -> None:
    registry = CollectorRegistry()
    counter = Counter(
        "purista_messages_processed", "Messages", ["purista_service"], registry=registry
    )
    counter.labels("greeter").inc(value)
    (folder / f"{index}.prom").write_bytes(generate_latest(registry))


def test_the_children_of_a_prefork_worker_are_served_as_one_labelled_by_process(
    tmp_path: Path,
) -> None:
    child_file(tmp_path, 0, 3)
    child_file(tmp_path, 1, 4)
    (tmp_path / "2.tmp").write_text("half written")  # a child's file being replaced
    families = {f.name: f for f in metrics.children(tmp_path)}
    assert "purista_messages_processed" in families
    totals = {
        s.labels["purista_process"]: s.value
        for s in families["purista_messages_processed"].samples
        if s.name.endswith("_total")
    }
    assert totals == {"0": 3.0, "1": 4.0}


def test_the_endpoint_adds_project_and_worker_to_every_series(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    child_file(tmp_path, 0, 2)
    port = free_port()
    monkeypatch.setenv(metrics.PORT_VARIABLE, str(port))
    collector = metrics._Labelled(lambda: metrics.children(tmp_path), metrics.identity("w-1"))
    assert metrics.serve(collector)
    assert not metrics.serve(collector)  # the port is taken: a warning, no crash
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    (family,) = [
        f for f in text_string_to_metric_families(text) if f.name == "purista_messages_processed"
    ]
    labels = next(s.labels for s in family.samples if s.name.endswith("_total"))
    assert labels == {
        "purista_service": "greeter",
        "purista_process": "0",
        "purista_project": "rtdouble",
        "purista_worker": "w-1",
    }
