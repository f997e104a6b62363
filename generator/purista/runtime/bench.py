# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""`python -m <package> bench TARGET`: load against running workers, measured on both ends.

The client sends a command, an event or jobs at a fixed `--rate` (open loop: latency
counts from when each message was due, so a slow system cannot hide behind a slow
client) or as fast as `--concurrency` threads can (`--max`). Every message it sends
carries a `bench` mark in purista's header; a worker that handles a marked message
notes its handler's time (the service time, without queueing) and when it finished,
on a Redis list of the run. The report: throughput, latency percentiles (a command's
round trip; an event's or job's from sending to its handler's end), errors, the
backlog left, and the service time per handler, which is also kept in
`.purista/measurements.json` for `purista plan --target-rate`.
"""

from __future__ import annotations

import json
import logging
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import redis

from .project import PROJECT

logger = logging.getLogger(__name__)

#: The purista header fields a bench run adds to what this thread sends.
MARK: ContextVar[dict[str, Any] | None] = ContextVar("purista_bench_mark", default=None)
NOTES_TTL = 3600  # seconds a run's notes are kept


def marked(header: dict[str, Any]) -> dict[str, Any]:
    """`header` with this thread's bench mark, if it runs a bench."""
    mark = MARK.get()
    return header if mark is None else {**header, **mark, "sent_at": time.time()}


def note(
    header: Mapping[str, Any],
    task: str,
    started: float,
    ok: bool,
    client: Callable[[], redis.Redis],
) -> None:
    """Note a marked message's handler time on its run's list (nothing for others).

    `started` is the handler's start, from `time.perf_counter()`; `client` is called only
    for a marked message. A Redis failure costs the note, not the message: it is logged.
    """
    run = header.get("bench")
    if not isinstance(run, str):
        return
    seconds = time.perf_counter() - started
    sent = header.get("sent_at")
    now = time.time()
    row = {
        "task": task,
        "service": seconds,
        "ok": ok,
        "latency": now - sent if isinstance(sent, int | float) else None,
        "done_at": now,
    }
    try:
        with client().pipeline(transaction=False) as pipe:
            pipe.rpush(notes_key(run), json.dumps(row))
            pipe.expire(notes_key(run), NOTES_TTL)
            pipe.execute()
    except redis.RedisError as exc:
        logger.warning("could not note a bench message for %s: %s", task, exc)


def notes_key(run: str) -> str:
    """The Redis list of a bench run's notes."""
    return f"{PROJECT}:bench:{run}"


def percentile(values: list[float], p: float) -> float | None:
    """The `p`-th percentile (nearest rank) of `values`, or None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def summary(values: list[float]) -> dict[str, float | None]:
    """Mean and percentiles of some durations, in seconds."""
    return {
        "mean": statistics.fmean(values) if values else None,
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
    }


@dataclass
class Load:
    """What the client saw: when each message was due and how long it took, and errors."""

    started: float = 0.0  # monotonic
    wall: float = 0.0  # the same moment, as wall-clock time (workers note theirs)
    sent: int = 0
    latencies: list[tuple[float, float]] = field(default_factory=list)  # (due, seconds)
    errors: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def done(self, due: float, seconds: float | None, error: BaseException | None) -> None:
        """Count one message sent: its latency, if the client measures it, or its error."""
        with self.lock:
            self.sent += 1
            if error is not None:
                name = type(error).__name__
                self.errors[name] = self.errors.get(name, 0) + 1
            elif seconds is not None:
                self.latencies.append((due - self.started, seconds))


def drive(
    send: Callable[[], bool],
    *,
    run: str,
    rate: float | None,
    duration: float,
    concurrency: int,
) -> Load:
    """Call `send` at `rate` per second (or back to back on every thread) for `duration`.

    `send` returns whether its latency is the client's (a command's round trip).
    """
    load = Load(started=time.monotonic(), wall=time.time())
    end = load.started + duration

    def one(due: float) -> None:
        MARK.set({"bench": run})
        error: BaseException | None = None
        try:
            timed = send()
        except Exception as exc:  # noqa: BLE001  (counted by type, reported at the end)
            error, timed = exc, False
        load.done(due, time.monotonic() - due if timed else None, error)

    with ThreadPoolExecutor(concurrency) as pool:
        if rate is None:

            def loop() -> None:
                while (now := time.monotonic()) < end:
                    one(now)

            for _ in range(concurrency):
                pool.submit(loop)
        else:
            count = int(rate * duration)
            for i in range(count):
                due = load.started + i / rate
                time.sleep(max(0.0, due - time.monotonic()))
                pool.submit(one, due)
    return load


def read_notes(client: redis.Redis, run: str, expected: int, wait: float) -> list[dict[str, Any]]:
    """The run's notes, once `expected` are in or `wait` seconds passed."""
    deadline = time.monotonic() + wait
    while cast(int, client.llen(notes_key(run))) < expected and time.monotonic() < deadline:
        time.sleep(0.1)
    rows = [json.loads(row) for row in cast(list[bytes], client.lrange(notes_key(run), 0, -1))]
    client.delete(notes_key(run))
    return rows


def new_run() -> str:
    """A run's id."""
    return uuid.uuid4().hex[:12]


def report(
    target: str,
    kind: str,
    load: Load,
    notes: list[dict[str, Any]],
    *,
    backlog: int,
    duration: float,
) -> dict[str, Any]:
    """What a run measured, as JSON-ready values."""
    client = [seconds for _, seconds in load.latencies]
    end_to_end = [n["latency"] for n in notes if n.get("latency") is not None]
    latency = client if kind == "command" else end_to_end
    if kind == "command":
        finished, span = len(load.latencies), duration
    else:  # until the last handler finished, however long after the sending that was
        finished = len(notes)
        span = max((n["done_at"] for n in notes), default=load.wall) - load.wall
    by_task: dict[str, list[float]] = {}
    for n in notes:
        by_task.setdefault(n["task"], []).append(n["service"])
    return {
        "target": target,
        "kind": kind,
        "sent": load.sent,
        "duration": duration,
        "throughput": finished / span if span > 0 else 0.0,
        "errors": load.errors,
        "handler_failures": sum(1 for n in notes if not n.get("ok", True)),
        "latency": summary(latency),
        "backlog_at_end": backlog,
        "service_time": {task: {**summary(v), "samples": len(v)} for task, v in by_task.items()},
        "latency_over_time": [[round(at, 4), round(s, 6)] for at, s in load.latencies]
        if kind == "command"
        else [[round(n["done_at"], 4), round(n["latency"], 6)] for n in notes if n.get("latency")],
    }


def format_report(figures: Mapping[str, Any]) -> str:
    """The figures as plain text."""

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value * 1000:.1f}"

    lat = figures["latency"]
    lines = [
        f"target          {figures['target']} ({figures['kind']})",
        f"sent            {figures['sent']} in {figures['duration']:.1f} s",
        f"throughput      {figures['throughput']:.1f}/s",
        f"errors          {sum(figures['errors'].values())} {figures['errors'] or ''}".rstrip(),
        f"handler errors  {figures['handler_failures']}",
        f"latency (ms)    p50 {ms(lat['p50'])}  p95 {ms(lat['p95'])}  p99 {ms(lat['p99'])}",
        f"backlog at end  {figures['backlog_at_end']}",
    ]
    for task, s in figures["service_time"].items():
        lines.append(
            f"service {task}: mean {ms(s['mean'])} ms, p95 {ms(s['p95'])} ms "
            f"({s['samples']} handled; the worker's time in the handler)"
        )
    return "\n".join(lines)


def record(path: Path, figures: Mapping[str, Any], concurrency: Mapping[str, int]) -> None:
    """Keep each handler's service time in `path` (`.purista/measurements.json`)."""
    try:
        known = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    handlers = known.setdefault("handlers", {})
    for task, s in figures["service_time"].items():
        if s["samples"]:
            handlers[task] = {
                "service_time": {k: s[k] for k in ("mean", "p50", "p95", "p99")},
                "samples": s["samples"],
                "throughput": figures["throughput"],
                "worker_concurrency": concurrency.get(task),
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
    known["version"] = 1
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(known, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


def plot(figures: Mapping[str, Any], path: Path) -> None:
    """Latency over time and its histogram, as a PNG (needs matplotlib: the `bench` extra)."""
    try:
        import matplotlib  # an optional extra: imported only here

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError(
            "--plot needs matplotlib: pip install -e '.[bench]' in the project"
        ) from None
    points = figures["latency_over_time"]
    if not points:
        raise RuntimeError("nothing was measured to plot")
    start = min(at for at, _ in points)
    xs = [at - start for at, _ in points]
    ys = [seconds * 1000 for _, seconds in points]
    fig, (over_time, histogram) = plt.subplots(1, 2, figsize=(12, 4.5))
    over_time.plot(xs, ys, ".", markersize=2)
    over_time.set_xlabel("seconds into the run")
    over_time.set_ylabel("latency (ms)")
    over_time.set_title(f"{figures['target']}: latency over time")
    histogram.hist(ys, bins=50)
    histogram.set_xlabel("latency (ms)")
    histogram.set_ylabel("messages")
    histogram.set_title("latency")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
