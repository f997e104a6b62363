# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""`OTEL_METRICS_EXPORTER=prometheus`: `/metrics` on one port per worker.

A worker of one process (a threads pool, a job queue) serves its own metrics. A
prefork worker's handlers run in its children, which come and go: each child
writes its metrics to a file every `PURISTA_METRICS_INTERVAL` seconds (default 5)
in a folder its main process made, and the main process serves them all on the
worker's one port, each child's series labelled `purista_process="<index>"`.
Every series carries `purista_project` and `purista_worker` (the worker's
Kubernetes name), so one Prometheus can watch several projects and tell the
workers of one apart; `instance` (the scraped address) tells their instances apart.

The port is `OTEL_EXPORTER_PROMETHEUS_PORT` (default 9464) on
`OTEL_EXPORTER_PROMETHEUS_HOST` (default 0.0.0.0). A port already taken costs one
warning line, not the worker.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from .project import PROJECT

logger = logging.getLogger(__name__)

PORT_VARIABLE = "OTEL_EXPORTER_PROMETHEUS_PORT"
HOST_VARIABLE = "OTEL_EXPORTER_PROMETHEUS_HOST"
DEFAULT_PORT = 9464
#: Where a prefork worker's children leave their metrics (set by the main process).
FOLDER_VARIABLE = "PURISTA_METRICS_DIR"
INTERVAL_VARIABLE = "PURISTA_METRICS_INTERVAL"


class _Process:
    """The writer of this process's metrics file (a prefork child), if any."""

    writer: _Writer | None = None


def port() -> int:
    """The port this worker serves `/metrics` on."""
    return int(os.environ.get(PORT_VARIABLE, DEFAULT_PORT))


def identity(worker: str) -> dict[str, str]:
    """The labels every series of `worker` carries."""
    return {"purista_project": PROJECT, "purista_worker": worker}


def reader(worker: str, index: int | None) -> PrometheusMetricReader:
    """The metric reader of this process, served on the port or left for the main process.

    `index` is a prefork child's index: the child writes its file instead of serving.
    """
    registry = CollectorRegistry(auto_describe=False)
    reader = PrometheusMetricReader(registry=registry)
    folder = os.environ.get(FOLDER_VARIABLE)
    if index is not None and folder:
        _Process.writer = _Writer(registry, Path(folder) / f"{index}.prom")
        _Process.writer.start()
    else:
        serve(_Labelled(registry.collect, identity(worker)))
    return reader


def gather(worker: str) -> None:
    """In a prefork worker's main process, before the children start: serve their metrics."""
    folder = Path(tempfile.mkdtemp(prefix="purista-metrics-"))
    os.environ[FOLDER_VARIABLE] = str(folder)
    if serve(_Labelled(lambda: children(folder), identity(worker))):
        atexit.register(shutil.rmtree, folder, ignore_errors=True)


def stop() -> None:
    """A prefork child stops writing its file, and removes it."""
    if _Process.writer is not None:
        _Process.writer.stop()
        _Process.writer = None


def serve(collector: _Labelled) -> bool:
    """Serve `collector` on `/metrics` (a daemon thread); False, with a warning, if it cannot."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    try:
        start_http_server(port(), addr=os.environ.get(HOST_VARIABLE, "0.0.0.0"), registry=registry)
    except OSError as exc:
        logger.warning("metrics are not served on port %d: %s", port(), exc)
        return False
    return True


def children(folder: Path) -> Iterator[Metric]:
    """The metric families the children left in `folder`, each sample labelled with its child."""
    merged: dict[str, Metric] = {}
    for path in sorted(folder.glob("*.prom")):
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:  # a child that just stopped took its file along
            continue
        process = {"purista_process": path.stem}
        for family in text_string_to_metric_families(text):
            labelled = relabel(family, process)
            if family.name in merged:
                merged[family.name].samples.extend(labelled.samples)
            else:
                merged[family.name] = labelled
    yield from merged.values()


def relabel(family: Metric, labels: dict[str, str]) -> Metric:
    """A copy of `family` whose every sample also carries `labels`."""
    out = Metric(family.name, family.documentation, family.type, family.unit)
    out.samples = [s._replace(labels={**s.labels, **labels}) for s in family.samples]
    return out


class _Labelled:
    """A collector of the families `source` gives, each sample with `labels` added."""

    def __init__(self, source: Callable[[], Iterable[Metric]], labels: dict[str, str]) -> None:
        self.source = source
        self.labels = labels

    def collect(self) -> Iterator[Metric]:
        """The families, relabelled (read at each scrape)."""
        for family in self.source():
            yield relabel(family, self.labels)


class _Writer:
    """Writes a registry's metrics to a file every interval, atomically (a prefork child)."""

    def __init__(self, registry: CollectorRegistry, path: Path) -> None:
        self.registry = registry
        self.path = path
        self.interval = float(os.environ.get(INTERVAL_VARIABLE, "5"))
        self.stopped = threading.Event()

    def start(self) -> None:
        """Write now and then every interval, on a daemon thread."""
        threading.Thread(target=self._run, name="purista-metrics", daemon=True).start()

    def stop(self) -> None:
        """Stop writing and remove the file."""
        self.stopped.set()
        with contextlib.suppress(OSError):
            self.path.unlink()

    def _run(self) -> None:
        while not self.stopped.is_set():
            try:
                self.write()
            except Exception as exc:  # noqa: BLE001  (the thread must go on: log and retry)
                logger.warning("could not write metrics to %s: %s", self.path, exc)
            self.stopped.wait(self.interval)

    def write(self) -> None:
        """Write the metrics as they are now."""
        data = generate_latest(self.registry)
        partial = self.path.with_suffix(".tmp")
        partial.write_bytes(data)
        if not self.stopped.is_set():  # a stopped child's file stays removed
            os.replace(partial, self.path)
