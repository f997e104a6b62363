"""Benchmark the cost of the generated tracing and metrics on command throughput (on demand).

    .venv/bin/python benchmarks/telemetry.py [--rounds 5] [--prefork-rounds 3] [--commands 2000]
        [--loglevel INFO] [--keep]

Generates a project from `benchmarks/specs/otelbench.yaml` (service `bench`, command
`echo` whose handler returns the number it is given), installs it in a cached venv
(`tests/support.project_venv`), starts a `redis-server` of its own on a free port and a
tiny OTLP/HTTP sink on 127.0.0.1 (POST /v1/traces and /v1/metrics answer 200; the
bodies are kept, and decoded only after the timed part of a run), then compares one
worker process (`python -m otelbench worker bench --pool threads --concurrency 4`) in
three configurations:

(a) off:     OTEL_TRACES_EXPORTER=none OTEL_METRICS_EXPORTER=none
(b) traces:  OTEL_TRACES_EXPORTER=otlp (BatchSpanProcessor, the default), metrics none
(c) metrics: OTEL_METRICS_EXPORTER=otlp (PeriodicExportingMetricReader, default
             interval), traces none
(d) /metrics: OTEL_METRICS_EXPORTER=prometheus (each worker's /metrics on a port of its
             own, never scraped during a run: collecting costs the scraper's request, not
             the messages; a prefork worker's children write their file every 5 s)

both with OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf and OTEL_EXPORTER_OTLP_ENDPOINT
pointing at the sink. Each configuration's worker runs on a Redis database of its own
for the whole phase, so the three stay up and take turns. A run sends `--commands`
tasks with a plain Celery client (`send_task("bench.v1.echo", kwargs={"payload":
...})`) to a staging list while the worker idles, then RENAMEs the list onto the
worker's queue at once: the worker drains a full backlog, and the client's own sending
is not part of the measured time. Throughput is commands / (last result's `date_done`
- release); every result is checked. The worker's CPU time (all its processes) is read
from /proc around each run: on this shared machine it is the steadier figure. After a
run of (b) the benchmark waits until the sink holds every span of it (the batch
processor's tail, < 512 spans per process, leaves within its 5 s schedule delay) before
reading the CPU time, so the whole export is charged to (b) and none of it spills into
another configuration's run; (b)'s CPU figure thus includes up to 5 s of an idle
worker's polling (well under 0.01 ms per command).

The configurations are interleaved, a new order each round, because the 2-core
machine is shared and noisy; ratios are taken per round (paired) and their median is
reported. Targets: (b)/(a) >= 0.85, (c)/(a) >= 0.95. A second phase does the same with
`--pool prefork --concurrency 4` (`--prefork-rounds 0` leaves it out). At the end of
each phase a last short run goes to (c) and then (b), and right after it every worker
gets SIGTERM (the main process only, as a container runtime sends it); then the sink's
totals are compared with what the workers processed: spans per command, and the final
value of (c)'s `purista.messages.processed` counter. Nothing may be lost at exit: the
batch processor's tail and the metrics since the last periodic export (every 60 s by
default) must leave when a process stops.

Last, the worker's per-message metric calls (`telemetry.record_message`: a counter and
a histogram) are timed alone in a loop, per exporter, and put against (a)'s worker CPU
per command: the part of a message's cost that metrics add, free of the round-to-round
noise of the throughput ratios.

Everything inside the project runs in the project's venv: this file re-runs itself
there with `--inside`. The last block of output is meant to be pasted into a report.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gzip
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "benchmarks" / "specs" / "otelbench.yaml"
PACKAGE = "otelbench"
SERVICE = "bench"
TASK = "bench.v1.echo"
QUEUE = "otelbench.bench.v1"
STAGING = "otelbench-bench.staging"
CONFIGS = ("a", "b", "c", "d")
LABELS = {
    "a": "(a) tracing and metrics off",
    "b": "(b) traces -> OTLP/HTTP",
    "c": "(c) metrics -> OTLP/HTTP",
    "d": "(d) metrics -> Prometheus /metrics",
}
TARGETS = {"b": 0.85, "c": 0.95, "d": 0.95}
WARMUP = 300
LAST = 200  # commands of the last run, right before SIGTERM
CONCURRENCY = 4

HANDLER = textwrap.dedent(
    '''
    """Command bench.v1.echo: return the number it was given (the benchmark's trivial work)."""

    from __future__ import annotations

    from otelbench.services.bench.v1._generated.context import EchoContext
    from otelbench.services.bench.v1._generated.models import EchoOutput, EchoPayload


    def handle(context: EchoContext, payload: EchoPayload) -> EchoOutput:
        """Return the number it was given."""
        return EchoOutput(n=payload.n)
    '''
).lstrip()


# ------------------------------------------------------------------------ OTLP sink


class Sink:
    """An OTLP/HTTP receiver that answers 200 at once and decodes what it got on demand."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.bodies: list[tuple[str, bytes]] = []
        self.decoded = 0
        self.requests = {"/v1/traces": 0, "/v1/metrics": 0}
        self.bytes = {"/v1/traces": 0, "/v1/metrics": 0}
        self.spans = 0
        self.span_names: dict[str, int] = {}
        # latest cumulative `purista.messages.processed` per (instance, attributes)
        self.processed: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as with a real collector

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                with sink.lock:
                    if self.path in sink.requests:
                        sink.requests[self.path] += 1
                        sink.bytes[self.path] += len(body)
                        sink.bodies.append((self.path, body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stats(self) -> dict[str, Any]:
        """Totals so far; decodes the bodies that arrived since the last call."""
        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (  # noqa: PLC0415
            ExportMetricsServiceRequest,
        )
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: PLC0415
            ExportTraceServiceRequest,
        )

        with self.lock:
            new = self.bodies[self.decoded :]
            self.decoded = len(self.bodies)
            requests, size = dict(self.requests), dict(self.bytes)
        for path, body in new:
            if path == "/v1/traces":
                traces = ExportTraceServiceRequest.FromString(body)
                for rs in traces.resource_spans:
                    for ss in rs.scope_spans:
                        self.spans += len(ss.spans)
                        for span in ss.spans:
                            self.span_names[span.name] = self.span_names.get(span.name, 0) + 1
            else:
                self._metrics(ExportMetricsServiceRequest.FromString(body))
        return {
            "requests": requests,
            "bytes": size,
            "spans": self.spans,
            "span_names": dict(self.span_names),
            "processed": sum(self.processed.values()),
            "instances": len({instance for instance, _ in self.processed}),
        }

    def _metrics(self, request: Any) -> None:
        for rm in request.resource_metrics:
            resource = {a.key: a.value.string_value for a in rm.resource.attributes}
            instance = resource.get("service.instance.id", "")
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name != "purista.messages.processed":
                        continue
                    for point in metric.sum.data_points:
                        attrs = tuple(
                            sorted((a.key, a.value.string_value) for a in point.attributes)
                        )
                        key = (instance, attrs)
                        self.processed[key] = max(self.processed.get(key, 0), point.as_int)

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


# --------------------------------------------------------------------------- workers


def group_cpu(pgid: int) -> float:
    """User and system CPU seconds of every live process in a process group."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                total += (int(fields[11]) + int(fields[12])) / tick
    return total


@dataclass
class Worker:
    """One configuration's worker, on a Redis database of its own."""

    config: str
    url: str
    proc: Any
    client: Any
    celery: Any
    log: Path
    processed: int = 0
    runs: list[dict[str, Any]] = field(default_factory=list)


def worker_env(config: str, url: str, root: Path, sink_port: int) -> dict[str, str]:
    """The environment of a configuration's worker."""
    env = {"REDIS_URL": url, "PYTHONPATH": str(root / "src")}
    otlp = {
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink_port}",
    }
    if config == "a":
        return {**env, "OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}
    if config == "b":
        return {**env, **otlp, "OTEL_TRACES_EXPORTER": "otlp", "OTEL_METRICS_EXPORTER": "none"}
    if config == "d":
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        return {
            **env,
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_METRICS_EXPORTER": "prometheus",
            "OTEL_EXPORTER_PROMETHEUS_PORT": str(port),
            "OTEL_EXPORTER_PROMETHEUS_HOST": "127.0.0.1",
        }
    return {**env, **otlp, "OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "otlp"}


def send(w: Worker, count: int, tag: str) -> list[str]:
    """Put `count` commands on the staging list of `w`'s database; their task ids."""
    ids = [f"{tag}-{i}" for i in range(count)]
    for i, task_id in enumerate(ids):
        w.celery.send_task(TASK, kwargs={"payload": {"n": i}}, queue=STAGING, task_id=task_id)
    if w.client.llen(STAGING) != count:
        raise RuntimeError(f"{w.client.llen(STAGING)} messages staged, expected {count}")
    return ids


def release_and_wait(
    w: Worker, ids: list[str], timeout: float, settle: Callable[[], str] | None = None
) -> dict[str, Any]:
    """Move the staged commands onto the worker's queue at once; time them until all are done.

    `settle` runs once every result is in and before the CPU time is read (for the
    export that a run leaves behind); it returns a problem, or an empty string.
    """
    keys = [f"celery-task-meta-{task_id}" for task_id in ids]
    if w.client.llen(QUEUE):
        raise RuntimeError(f"{QUEUE} is not empty before a run")
    cpu = group_cpu(w.proc.pid)
    released = time.time()
    w.client.rename(STAGING, QUEUE)
    deadline = time.monotonic() + timeout
    done = 0
    while time.monotonic() < deadline:
        done = w.client.exists(*keys)
        if done >= len(keys) or w.proc.poll() is not None:
            break
        time.sleep(0.02)
    problems = []
    settled = time.monotonic()
    if settle is not None and (problem := settle()):
        problems.append(problem)
    settled = time.monotonic() - settled
    cpu = group_cpu(w.proc.pid) - cpu
    finished = []
    for start in range(0, len(keys), 1000):
        for i, raw in enumerate(w.client.mget(keys[start : start + 1000]), start):
            if raw is None:
                continue
            meta = json.loads(raw)
            if meta.get("status") != "SUCCESS" or meta.get("result") != {"n": i}:
                problems.append(f"{ids[i]}: {meta.get('status')} {meta.get('result')!r:.80}")
            finished.append(datetime.fromisoformat(meta["date_done"]).timestamp())
    if done < len(keys):
        problems.insert(0, f"only {done} of {len(keys)} results within {timeout:g} s")
    for start in range(0, len(keys), 1000):
        w.client.unlink(*keys[start : start + 1000])
    w.processed += len(finished)
    last = max(finished) if finished else time.time()
    return {
        "seconds": last - released,
        "rate": len(finished) / (last - released),
        "cpu_ms": cpu / max(len(finished), 1) * 1000,
        "settled": settled,
        "problems": problems[:3],
    }


def stop_worker(w: Worker) -> float:
    """SIGTERM to the worker's main process only (as a container runtime does); seconds taken."""
    start = time.monotonic()
    with contextlib.suppress(ProcessLookupError):
        os.kill(w.proc.pid, signal.SIGTERM)
    try:
        w.proc.wait(30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(w.proc.pid, signal.SIGKILL)
        w.proc.wait(10)
    # prefork children left behind (there should be none)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(w.proc.pid, signal.SIGKILL)
    return time.monotonic() - start


def wait_for_spans(sink: Sink, expected: int, timeout: float) -> str:
    """Wait until the sink holds `expected` spans; a problem if it does not in time."""
    deadline = time.monotonic() + timeout
    while (spans := sink.stats()["spans"]) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return "" if spans >= expected else f"{expected - spans} spans missing after {timeout:g} s"


def settle_spans(sink: Sink, quiet: float, timeout: float) -> int:
    """Wait until no span has arrived for `quiet` seconds; the total."""
    start = last_change = time.monotonic()
    spans = sink.stats()["spans"]
    while time.monotonic() - last_change < quiet and time.monotonic() - start < timeout:
        time.sleep(0.2)
        now = sink.stats()["spans"]
        if now != spans:
            spans, last_change = now, time.monotonic()
    return spans


def rotated(items: tuple[str, ...], index: int) -> list[str]:
    """`items` starting at `index` (mod its length)."""
    shift = index % len(items)
    return [*items[shift:], *items[:shift]]


def phase(
    pool: str,
    rounds: int,
    args: argparse.Namespace,
    env: dict[str, Any],
) -> dict[str, Any]:
    """One pool kind: three workers, warm-up, interleaved rounds, graceful stop, sink totals."""
    import redis  # noqa: PLC0415
    from celery import Celery  # noqa: PLC0415

    sink: Sink = env["sink"]
    root: Path = env["root"]
    before = sink.stats()
    workers: dict[str, Worker] = {}
    print(f"--- {pool} pool, concurrency {CONCURRENCY}", flush=True)
    try:
        for db, config in enumerate(CONFIGS, 1):
            url = f"{env['redis_base']}/{db}"
            client = redis.Redis.from_url(url)
            client.flushdb()
            log = env["logs"] / f"{pool}-{config}.log"
            handle = log.open("ab")
            proc = subprocess.Popen(
                [
                    env["python"],
                    "-m",
                    PACKAGE,
                    "worker",
                    SERVICE,
                    "--pool",
                    pool,
                    "--concurrency",
                    str(CONCURRENCY),
                    "--loglevel",
                    args.loglevel,
                ],
                cwd=root,
                env={**os.environ, **worker_env(config, url, root, sink.port)},
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            handle.close()
            celery = Celery("otelbench-client", broker=url, set_as_current=False)
            celery.conf.update(task_serializer="json", accept_content=["json"])
            workers[config] = Worker(config, url, proc, client, celery, log)
        # warm-up: imports, connections, the first exports; also shows every worker is up
        for config, w in workers.items():
            ids = send(w, WARMUP, f"{pool}-{config}-warmup")
            result = release_and_wait(w, ids, 60)
            if result["problems"]:
                raise RuntimeError(
                    f"warm-up of {config} failed: {result['problems']}\n{w.log.read_text()[-3000:]}"
                )
        spans = settle_spans(sink, quiet=6, timeout=20) - before["spans"]
        per_command = round(spans / workers["b"].processed) if spans else 0
        print(
            f"warm-up done: {spans} spans for {workers['b'].processed} traced commands"
            f" ({per_command} per command)",
            flush=True,
        )
        for r in range(rounds):
            for config in rotated(CONFIGS, r):
                w = workers[config]
                ids = send(w, args.commands, f"{pool}-{config}-r{r}")
                settle = None
                if config == "b":  # the batch processor's tail, into this run's CPU time
                    expected = before["spans"] + per_command * (w.processed + len(ids))
                    settle = functools.partial(wait_for_spans, sink, expected, 12)
                result = release_and_wait(w, ids, 120, settle)
                w.runs.append(result)
                extra = f"; all spans at the sink {result['settled']:.1f} s later" if settle else ""
                print(
                    f"  round {r + 1} {LABELS[config]:<28} {result['rate']:7.0f} commands/s,"
                    f" worker CPU {result['cpu_ms']:.2f} ms/command{extra}"
                    f" {'ok' if not result['problems'] else result['problems']}",
                    flush=True,
                )
        # A last short run of (c) and (b) right before SIGTERM: what a process still holds
        # (a batch processor's tail, the metrics since the last periodic export) must leave
        # when it exits.
        last = []
        for config in ("c", "b"):
            w = workers[config]
            last += release_and_wait(w, send(w, LAST, f"{pool}-{config}-last"), 60)["problems"]
        at_stop = sink.stats()
        stop = {config: stop_worker(w) for config, w in workers.items()}
        time.sleep(1)
        after = sink.stats()
    finally:
        for w in workers.values():
            if w.proc.poll() is None:
                stop_worker(w)
    return {
        "pool": pool,
        "runs": {config: w.runs for config, w in workers.items()},
        "processed": {config: w.processed for config, w in workers.items()},
        "per_command": per_command,
        "last_problems": last,
        "spans_before_stop": at_stop["spans"] - before["spans"],
        "processed_before_stop": at_stop["processed"] - before["processed"],
        "stop_seconds": stop,
        "spans": after["spans"] - before["spans"],
        "span_names": {
            name: n - before["span_names"].get(name, 0) for name, n in after["span_names"].items()
        },
        "metric_processed": after["processed"] - before["processed"],
        "metric_instances": after["instances"] - before["instances"],
        "requests": {k: v - before["requests"][k] for k, v in after["requests"].items()},
        "bytes": {k: v - before["bytes"][k] for k, v in after["bytes"].items()},
    }


# ---------------------------------------------------------------------------- report


def _spread(values: list[float], fmt: str, unit: str = "") -> str:
    low, high = min(values), max(values)
    return f"{statistics.median(values):{fmt}}{unit} [{low:{fmt}} .. {high:{fmt}}]"


def report(args: argparse.Namespace, env: dict[str, Any], phases: list[dict[str, Any]]) -> str:
    """The block of figures printed at the end."""
    lines = [
        f"=== telemetry overhead: {env['platform']}, {env['cpus']} CPUs, redis {env['redis']},"
        f" python {env['python_version']}, {env['versions']}",
        f"{args.commands:,} commands per run ({TASK}, handler returns its input), sent by a plain"
        " Celery client to a staging list and released onto the queue at once; throughput ="
        " commands / (last result's date_done - release); one worker process per"
        f" configuration, --concurrency {CONCURRENCY}, --loglevel {args.loglevel}; OTLP"
        " http/protobuf to a local sink; configurations interleaved, order rotated each round;"
        " ratio = median of per-round ratios to (a) [min .. max]",
    ]
    for ph in phases:
        runs = ph["runs"]
        n = len(runs["a"])
        lines.append(f"{ph['pool']} pool, {n} rounds (commands/s: median [min .. max]):")
        for config in CONFIGS:
            rates = [r["rate"] for r in runs[config]]
            cpus = [r["cpu_ms"] for r in runs[config]]
            line = (
                f"   {LABELS[config]:<28} {_spread(rates, '6.0f')} commands/s;"
                f" worker CPU {_spread(cpus, '.2f')} ms/command"
            )
            if config in TARGETS:
                ratios = [
                    x["rate"] / a["rate"] for x, a in zip(runs[config], runs["a"], strict=True)
                ]
                cpu = [
                    x["cpu_ms"] / a["cpu_ms"] for x, a in zip(runs[config], runs["a"], strict=True)
                ]
                ratio = statistics.median(ratios)
                verdict = "meets target" if ratio >= TARGETS[config] else "BELOW TARGET"
                line += (
                    f"\n       throughput {config}/a = {_spread(ratios, '.2f', 'x')}"
                    f" (target >= {TARGETS[config]}x: {verdict});"
                    f" worker CPU per command {config}/a = {_spread(cpu, '.2f', 'x')}"
                )
            lines.append(line)
        processed = ph["processed"]
        names = ", ".join(f"{k!r} {v:,}" for k, v in sorted(ph["span_names"].items()))
        spans_ok = ph["spans"] == ph["per_command"] * processed["b"]
        lines.append(
            f"   export (b): {ph['spans']:,} spans for {processed['b']:,} commands"
            f" ({ph['spans'] / processed['b']:.3f} per command: {names});"
            f" {ph['requests']['/v1/traces']} requests, {ph['bytes']['/v1/traces'] / 1e6:.1f} MB"
            f" ({ph['bytes']['/v1/traces'] / max(ph['spans'], 1):.0f} B/span)"
            + ("" if spans_ok else "  <- SPANS MISSING")
        )
        lines.append(
            f"   export (c): {ph['requests']['/v1/metrics']} metric requests,"
            f" {ph['bytes']['/v1/metrics'] / 1e3:.1f} kB from {ph['metric_instances']}"
            f" process(es); last purista.messages.processed = {ph['metric_processed']:,}"
            f" of {processed['c']:,} commands handled"
            + ("" if ph["metric_processed"] == processed["c"] else "  <- COUNTS MISSING")
        )
        lost_spans = ph["per_command"] * processed["b"] - ph["spans"]
        lost_counts = processed["c"] - ph["metric_processed"]
        lines.append(
            f"   exit flush: {LAST} more commands to (c) and (b), then SIGTERM at once; at the"
            f" sink before -> after exit: spans {ph['spans_before_stop']:,} -> {ph['spans']:,}"
            + (" (none lost)" if lost_spans <= 0 else f" ({lost_spans:,} LOST)")
            + f", processed counter {ph['processed_before_stop']:,} -> {ph['metric_processed']:,}"
            + (" (none lost)" if lost_counts <= 0 else f" ({lost_counts:,} LOST)")
        )
        stops = ", ".join(f"{c} {s:.1f} s" for c, s in ph["stop_seconds"].items())
        lines.append(f"   SIGTERM to exit: {stops}")
        problems = [p for runs_ in runs.values() for r in runs_ for p in r["problems"]]
        problems += ph["last_problems"]
        lines.append(
            "   results: "
            + ("every command succeeded with its output" if not problems else f"{problems[:5]}")
        )
    costs = env["record_costs"]
    for ph in phases:
        base = statistics.median(r["cpu_ms"] for r in ph["runs"]["a"]) * 1000
        added = {name: costs[key] - costs["none"] for name, key in RECORDERS}
        shares = ", ".join(f"{name} {us:.1f} us = {us / base:.1%}" for name, us in added.items())
        lines.append(
            f"recording one message's metrics, timed alone: off {costs['none']:.2f} us; added by"
            f" {shares} of (a)'s worker CPU per command with the {ph['pool']} pool"
            f" ({base:.0f} us)"
        )
    return "\n".join(lines)


# ----------------------------------------------------------- the cost of recording alone

#: Runs in a process of its own: the worker's per-message metric calls, timed alone.
RECORD = """
import os, sys, time
from otelbench._purista import telemetry

telemetry.setup("bench")
labels = telemetry.Labels.of(
    {"purista.service": "bench", "purista.version": "1", "purista.handler": "echo"}
)
best = float("inf")
for _ in range(5):
    started = time.process_time()
    for _ in range(100_000):
        telemetry.record_message(labels, 0.001, failed=False)
    best = min(best, (time.process_time() - started) / 100_000)
print(best * 1e6)
sys.stdout.flush()
os._exit(0)  # the measurement is printed; exporting it at exit would only wait
"""


RECORDERS = (("OTLP", "otlp"), ("Prometheus", "prometheus"))


def record_costs(root: Path, sink_port: int) -> dict[str, float]:
    """CPU microseconds per message of `record_message` (counter and histogram) per exporter.

    This is the whole of what metrics add to a message's path (the observable gauges
    and process metrics are read at collection, not per message); timed alone, in
    a quiet loop, it is a steadier figure than the throughput ratios.
    """
    from support import free_port  # noqa: PLC0415  (tests/, on the path inside the venv)

    costs = {}
    for exporter in ("none", *(key for _, key in RECORDERS)):
        env = {
            **os.environ,
            "PYTHONPATH": str(root / "src"),
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_METRICS_EXPORTER": exporter,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink_port}",
            "OTEL_EXPORTER_PROMETHEUS_PORT": str(free_port()),
        }
        done = subprocess.run(
            [sys.executable, "-c", RECORD], env=env, capture_output=True, text=True, check=True
        )
        costs[exporter] = float(done.stdout.split()[-1])
    return costs


# ------------------------------------------------------------------------------ main


def inside(args: argparse.Namespace) -> None:
    """The measurements, in the project's venv."""
    from importlib.metadata import version  # noqa: PLC0415

    import redis  # noqa: PLC0415

    sys.path.insert(0, str(ROOT / "tests"))
    from support import private_redis  # noqa: PLC0415

    inherited = sorted(k for k in os.environ if k.startswith("OTEL_"))
    for key in inherited:
        del os.environ[key]
    if inherited:
        print(f"note: ignoring inherited {', '.join(inherited)}", flush=True)
    root = Path(args.inside)
    logs = root.parent / "logs"
    logs.mkdir(exist_ok=True)
    sink = Sink()
    started = time.monotonic()
    packages = (
        "celery",
        "kombu",
        "opentelemetry-sdk",
        "opentelemetry-exporter-otlp-proto-http",
        "opentelemetry-instrumentation-celery",
    )
    try:
        with private_redis(root.parent) as url:
            client = redis.Redis.from_url(url)
            env = {
                "sink": sink,
                "root": root,
                "logs": logs,
                "python": sys.executable,
                "redis_base": url.rsplit("/", 1)[0],
                "redis": client.info("server")["redis_version"],
                "python_version": platform.python_version(),
                "platform": platform.platform(terse=True),
                "cpus": os.cpu_count(),
                "versions": ", ".join(f"{p} {version(p)}" for p in packages),
            }
            print(f"redis-server at {url}, OTLP sink at http://127.0.0.1:{sink.port}", flush=True)
            phases = [phase("threads", args.rounds, args, env)]
            if args.prefork_rounds:
                print(f"({time.monotonic() - started:.0f} s)", flush=True)
                phases.append(phase("prefork", args.prefork_rounds, args, env))
            env["record_costs"] = record_costs(root, sink.port)
            print(f"done in {time.monotonic() - started:.0f} s\n", flush=True)
            print(report(args, env, phases))
    finally:
        sink.close()


def main() -> None:
    """Generate and install the project, then measure inside its venv."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds with the threads pool")
    parser.add_argument(
        "--prefork-rounds", type=int, default=3, help="rounds with the prefork pool (0: none)"
    )
    parser.add_argument("--commands", type=int, default=2000, help="commands per run")
    parser.add_argument("--loglevel", default="INFO", help="the workers' --loglevel")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--inside", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        inside(args)
        return
    print("$ " + shlex.join([sys.executable, *sys.argv]), flush=True)

    sys.path.insert(0, str(ROOT / "tests"))
    from support import Project, project_venv, purista  # noqa: PLC0415

    tmp = Path(tempfile.mkdtemp(prefix="purista-otelbench-"))
    started = time.monotonic()
    ok = False
    try:
        made = purista("new", PACKAGE, "--spec", str(SPEC), "--output", str(tmp))
        if made.returncode:
            raise SystemExit(f"purista new failed:\n{made.stdout}\n{made.stderr}")
        root = tmp / PACKAGE
        Project(root, Path(), PACKAGE).handler(f"{SERVICE}/v1/commands/echo.py", HANDLER)
        venv = project_venv(root)
        print(f"project {root}, venv {venv} ({time.monotonic() - started:.0f} s)", flush=True)
        inner = [str(venv / "bin" / "python"), str(Path(__file__).resolve()), "--inside", str(root)]
        inner += ["--rounds", str(args.rounds), "--prefork-rounds", str(args.prefork_rounds)]
        inner += ["--commands", str(args.commands), "--loglevel", args.loglevel]
        result = subprocess.run(inner, cwd=root, check=False)
        if result.returncode:
            raise SystemExit(f"the measurement failed (exit {result.returncode}); logs in {tmp}")
        ok = True
    finally:
        if args.keep or not ok:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
