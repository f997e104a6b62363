"""Benchmark the generated runtime against a hand-written Celery app (run on demand; not a test).

    .venv/bin/python benchmarks/runtime.py [--rounds 3] [--commands 3000] [--duration 8]
        [--events 2000] [--jobs 3000] [--quick] [--keep]

Generates a project from `benchmarks/specs/runtimebench.yaml` (`rtbench`: service `echo`
with a command that upper-cases a text; service `fan` with one subscription to event
`one` and three to event `three`; service `batch` with the job queues `work` and
`slow`) and writes its handlers: each subscription and job does one Redis write, a
`HINCRBY` of a counter keyed by the message's number, so that every delivery is
counted (`slow` sleeps 20 ms first). It installs the project in a cached venv
(`tests/support.project_venv`) and writes a hand-written Celery app (`handapp.py`:
Celery's defaults but JSON serialisation) whose tasks do the same work. Then, in the
project's venv (this file re-runs itself there with `--inside`), it starts a
`redis-server` of its own: the generated workers use its database 0, the hand-written
ones database 1 (so neither sweeps the other's unacked messages), and it compares:

1. Command `echo.v1.echo` on `python -m rtbench worker echo` (threads pool, 8 slots)
   against a hand-written `@app.task` on `celery -A handapp worker -P threads -c 8 -Q
   hand.echo --without-gossip --without-mingle --without-heartbeat` (log level WARNING,
   Celery's default; the generated worker runs at its own default, INFO, which keeps
   Celery's per-task loggers at WARNING):
   (a) worker throughput: `--commands` messages sent by a plain Celery client
       (`send_task`, broker only) to a staging list while the worker idles, then
       RENAMEd onto the worker's queue at once, so the client's sending is not
       measured; commands / (last result's `date_done` - release).
       Target: generated >= 1.0x hand-written.
   (b) round trip: 16 client threads, each with a Celery app of its own (an app's
       result consumer is one pub/sub connection, not made for threads), calling
       `send_task(...).get()` for `--duration` s: calls/s, p50 and p99 latency.
       Target: generated p50 <= 1.1x hand-written.
   (c) the generated project's own invoke path, `get_bridge().invoke(...)`, on 16
       threads sharing the process's bridge (as a worker's handlers do), against the
       hand-written round trip of (b); the same target is shown for its p50.
   Every answer is checked (the text, upper-cased).
2. Event delivery end to end, for event `one` (1 subscription) and `three` (3):
   generated `get_bridge().emit(...)` (its routes pointed at staging lists: the emit
   code is the real one, only the queue names differ) on `worker fan` (threads, 8),
   against one `send_task` per subscriber to hand-written tasks (`acks_late=True`, and
   `ignore_result=True` as the generated subscriptions have; each on its own queue) on
   `celery ... -P threads -c 8 -Q <its 4 queues>`. `--events` events per run are
   staged, then released with one MULTI/EXEC of RENAMEs; a run is done when every
   subscriber's counter holds every event (polled every 5 ms). Deliveries/s from the
   release; target generated >= 1.2x hand-written. Every event must reach every
   subscriber exactly once, with no retry scheduled and no dead letter.
3. Jobs: `--jobs` jobs through `python -m rtbench worker --queue work --concurrency 8`
   against a Celery task with `acks_late=True` (its result stored, as a job's outcome
   is) on `-P threads -c 8`. The generated jobs are enqueued by the project's producer
   path (`CeleryBridge.enqueue`, that is `JobStore.enqueue`) into a staging queue name
   while the worker already runs, idle, on `work`; then the staging queue's pending
   list is RENAMEd onto `work`'s. Neither start-up nor enqueueing is measured. Jobs/s
   from the release to the last outcome recorded (the job's `finished_at`, the task's
   `date_done`); target generated >= 1.2x. Every job must have run once and succeeded
   on its first attempt.
4. Scale: 1, 2 and 4 processes of `worker --queue slow --concurrency 1`, 200 jobs of
   20 ms per variant, by the same staging method (the workers have been up and idle
   for 0.5 s at the release, so their poll has backed off as a long-idle worker's
   has): jobs/s from the release, and from the first job's start; target 4:1 >= 3.5x.
5. Telemetry: the command worker's throughput by the method of 1(a), tracing on
   (OTLP/HTTP to a local sink, `benchmarks/telemetry.Sink`) against off, and metrics on
   against off, on the threads pool (8 slots) and the prefork pool (`--pool prefork
   --concurrency 4`): three workers, each on a database of its own, taking turns. A
   traced run's export tail is waited for (untimed) before the next run, so it lands
   on no other run. Targets: tracing on >= 0.85x off, metrics on >= 0.95x off.

Every comparison has a warm-up, then `--rounds` rounds with the variants in a new
order each round (the 2-core machine is shared and noisy); ratios are taken per round
and their median is reported with min..max. Next to each throughput, the worker's CPU
time per message (all its processes, from /proc, release to end of run; for a traced
run, until its spans reached the sink) is shown without a target: on this shared
machine it is the steadier figure. Where a check fails, its problems are printed
instead of the figure. `--quick` runs everything once with small numbers (about two
minutes). The last block of output is meant to be pasted into a report.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import importlib
import itertools
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from telemetry import Sink, group_cpu, rotated, settle_spans, wait_for_spans, worker_env

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "benchmarks" / "specs" / "runtimebench.yaml"
PACKAGE = "rtbench"
ECHO_TASK = "echo.v1.echo"
ECHO_QUEUE = f"{PACKAGE}.echo.v1"
STAGED = ".staging"  # a staging list's name: its queue's name and this
SUBSCRIBERS = {"one": ("onOne",), "three": ("onThreeA", "onThreeB", "onThreeC")}
CLIENT_THREADS = 16
SLEEP = 0.020  # seconds a job of `slow` sleeps
SCALE_JOBS = 200
WORKER_COUNTS = (1, 2, 4)
#: The configurations of benchmarks/telemetry.py's `worker_env`, by the name shown here.
TELEMETRY_CONFIGS = {"off": "a", "traces": "b", "metrics": "c"}
PREFORK_CONCURRENCY = 4
WARMUP = 300
TARGETS = {
    "command": 1.0,  # generated / hand-written worker throughput, at least
    "round_trip_p50": 1.1,  # generated / hand-written p50, at most
    "events": 1.2,
    "jobs": 1.2,
    "traces": 0.85,  # on / off
    "metrics": 0.95,
    "scale": 3.5,  # 4 processes / 1
}
QUICK = {"rounds": 1, "commands": 400, "duration": 2.0, "events": 300, "jobs": 400}

# ---------------------------------------------------------------- code written to disk

ECHO = '''
"""Command echo.v1.echo: the text, upper-cased."""

from __future__ import annotations

from rtbench.services.echo.v1._generated.context import EchoContext
from rtbench.services.echo.v1._generated.models import EchoOutput, EchoPayload


def handle(context: EchoContext, payload: EchoPayload) -> EchoOutput:
    """Return the text upper-cased."""
    return EchoOutput(text=payload.text.upper())
'''

SUBSCRIPTION = '''
"""Subscription fan.v1.{name}: count the delivery (one Redis write)."""

from __future__ import annotations

import os

import redis

from rtbench.events import {event}Event
from rtbench.services.fan.v1._generated.context import {context}Context

_client = redis.Redis.from_url(os.environ["REDIS_URL"])


def handle(context: {context}Context, event: {event}Event) -> None:
    """Count this delivery of event number `n` of run `tag`."""
    _client.hincrby(f"bench:ev:{{event.tag}}:{name}", str(event.n), 1)
'''

JOB = '''
"""Job queue {name}: {what}, then count the run (one Redis write)."""

from __future__ import annotations

{stdlib}

import redis

from rtbench.services.batch.v1._generated.context import Job, {context}Context
from rtbench.services.batch.v1._generated.models import {context}Job

_client = redis.Redis.from_url(os.environ["REDIS_URL"])


def handle(context: {context}Context, job: Job[{context}Job]) -> None:
    """Count this run of job number `n` of run `tag`."""
{pause}    _client.hincrby(f"bench:job:{{job.payload.tag}}", str(job.payload.n), 1)
'''

HAND_APP = '''
"""A hand-written Celery app doing the benchmark's work: Celery's defaults, JSON only."""

from __future__ import annotations

import os
from typing import Any

import redis
from celery import Celery

URL = os.environ["REDIS_URL"]
app = Celery("handapp", broker=URL, backend=URL)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_accept_content=["json"],
)
client = redis.Redis.from_url(URL)


@app.task(name="hand.echo")
def echo(payload: dict[str, Any]) -> dict[str, str]:
    return {"text": payload["text"].upper()}


def subscriber(name: str) -> Any:
    @app.task(name=f"hand.{name}", acks_late=True, ignore_result=True)
    def deliver(payload: dict[str, Any]) -> None:
        client.hincrby(f"bench:ev:{payload['tag']}:{name}", str(payload["n"]), 1)

    return deliver


for _name in ("onOne", "onThreeA", "onThreeB", "onThreeC"):
    subscriber(_name)


@app.task(name="hand.work", acks_late=True)
def work(payload: dict[str, Any]) -> None:
    client.hincrby(f"bench:job:{payload['tag']}", str(payload["n"]), 1)
'''


def write_handlers(root: Path) -> None:
    """Replace the generated project's handler stubs with the benchmark's."""
    services = root / "src" / PACKAGE / "services"
    (services / "echo/v1/commands/echo.py").write_text(ECHO.lstrip())
    for event, names in SUBSCRIBERS.items():
        for name in names:
            module = "on_" + "_".join(p.lower() for p in _words(name[2:]))
            code = SUBSCRIPTION.format(
                name=name, event=event.title(), context=name[0].upper() + name[1:]
            )
            (services / f"fan/v1/subscriptions/{module}.py").write_text(code.lstrip())
    for name, what, sleep in (("work", "nothing", 0.0), ("slow", "sleep", SLEEP)):
        pause = f"    time.sleep({sleep})\n" if sleep else ""
        stdlib = "import os\nimport time" if sleep else "import os"
        code = JOB.format(name=name, what=what, context=name.title(), pause=pause, stdlib=stdlib)
        (services / f"batch/v1/queues/{name}.py").write_text(code.lstrip())


def _words(camel: str) -> list[str]:
    """`ThreeA` -> ['Three', 'A']."""
    words: list[str] = []
    for char in camel:
        if char.isupper() or not words:
            words.append(char)
        else:
            words[-1] += char
    return words


# ------------------------------------------------------------------ the bench's plumbing


@dataclass
class Side:
    """Workers on one Redis database: a client of it and Celery senders."""

    name: str
    url: str
    client: Any
    sender: Any  # a broker-only Celery app: send_task without a result subscription
    proc: Any = None


@dataclass
class Bench:
    """The project, the Redis server, the sink and the processes of one run."""

    root: Path
    hand_dir: Path
    logs: Path
    base: str  # redis://host:port, without the database
    sink: Sink
    procs: Any
    sides: dict[str, Side] = field(default_factory=dict)
    opened: list[Path] = field(default_factory=list)  # the log of every process started

    def side(self, name: str, db: int) -> Side:
        """A side on database `db` (emptied first)."""
        import redis  # noqa: PLC0415  (the project venv's)

        url = f"{self.base}/{db}"
        client = redis.Redis.from_url(url)
        client.flushdb()
        return Side(name, url, client, celery_app(url, backend=False))

    def log(self, name: str) -> Path:
        """A new log file for a process."""
        self.opened.append(self.logs / f"{len(self.opened) + 1:03d}-{name}.log")
        return self.opened[-1]

    def generated(self, args: list[str], env: dict[str, str] | None = None) -> Any:
        """Start `python -m rtbench worker ...` on database 0 (or as `env` says)."""
        env = env or {
            "REDIS_URL": self.sides["generated"].url,
            "PYTHONPATH": str(self.root / "src"),
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_METRICS_EXPORTER": "none",
        }
        command = [sys.executable, "-m", PACKAGE, "worker", *args]
        return self.procs.start(command, cwd=self.root, env=env, log=self.log("-".join(args)))

    def hand(self, queues: list[str]) -> Any:
        """Start the hand-written app's worker on `queues` (database 1)."""
        command = [str(Path(sys.executable).parent / "celery"), "-A", "handapp", "worker"]
        command += ["-P", "threads", "-c", "8", "-Q", ",".join(queues), "-n", f"{queues[0]}@%h"]
        command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        env = {"REDIS_URL": self.sides["hand"].url, "PYTHONPATH": str(self.hand_dir)}
        return self.procs.start(command, cwd=self.hand_dir, env=env, log=self.log(queues[0]))

    @contextlib.contextmanager
    def running(self, gen_args: list[str], hand_queues: list[str]) -> Iterator[None]:
        """A generated worker and a hand-written one (each its side's `proc`) for the block."""
        gen, hand = self.sides["generated"], self.sides["hand"]
        gen.proc, hand.proc = self.generated(gen_args), self.hand(hand_queues)
        try:
            yield
        finally:
            for side in (gen, hand):
                self.procs.stop(side.proc)
                side.proc = None


def cpu(side: Side) -> float:
    """CPU seconds of the side's worker (its whole process group), or 0 without one."""
    return group_cpu(side.proc.pid) if side.proc is not None else 0.0


def cpu_ms(side: Side, since: float, count: int) -> float | None:
    """The side's worker CPU ms per message since `since`; None without a worker."""
    return (cpu(side) - since) / count * 1000 if side.proc is not None else None


def celery_app(url: str, *, backend: bool) -> Any:
    """A plain Celery client app on `url`, JSON only; with the result backend or without."""
    from celery import Celery  # noqa: PLC0415

    app = Celery("bench-client", broker=url, backend=url if backend else None, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
    )
    return app


def project() -> SimpleNamespace:
    """The generated project's modules this benchmark uses (imported on first call)."""

    def mod(name: str) -> Any:
        return importlib.import_module(f"{PACKAGE}.{name}")

    return SimpleNamespace(
        app=mod("_purista.app"),
        bridge=mod("_purista.bridge"),
        jobs=mod("_purista.jobs"),
        project=mod("_purista.project"),
        Message=mod("_purista.context").Message,
        EchoOutput=mod("services.echo.v1._generated.models").EchoOutput,
    )


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.005) -> bool:
    """Poll `predicate` until it is truthy or `timeout` seconds pass."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return False


def release(client: Any, moves: dict[str, str]) -> float:
    """RENAME every staging list onto its queue in one transaction; the moment (time.time)."""
    for staging, queue in moves.items():
        if client.exists(queue):
            raise RuntimeError(f"{queue} is not empty before a run")
        if not client.exists(staging):
            raise RuntimeError(f"nothing staged on {staging}")
    with client.pipeline(transaction=True) as pipe:
        for staging, queue in moves.items():
            pipe.rename(staging, queue)
        released = time.time()
        pipe.execute()
    return released


def stage_tasks(side: Side, task: str, staging: str, payloads: list[Any], tag: str) -> list[str]:
    """Send one task message per payload to a staging list; their task ids."""
    ids = [f"{tag}-{i}" for i in range(len(payloads))]
    for task_id, payload in zip(ids, payloads, strict=True):
        side.sender.send_task(task, kwargs={"payload": payload}, queue=staging, task_id=task_id)
    if side.client.llen(staging) != len(ids):
        raise RuntimeError(f"{side.client.llen(staging)} messages staged, expected {len(ids)}")
    return ids


def collect_results(
    side: Side, ids: list[str], expected: Callable[[int], Any], timeout: float
) -> tuple[list[float], list[str]]:
    """Wait for the tasks' results; their `date_done` times and any problems (then deleted)."""
    keys = [f"celery-task-meta-{task_id}" for task_id in ids]
    wait_until(lambda: side.client.exists(*keys) >= len(keys), timeout, 0.01)
    finished: list[float] = []
    problems: list[str] = []
    for start in range(0, len(keys), 1000):
        for i, raw in enumerate(side.client.mget(keys[start : start + 1000]), start):
            if raw is None:
                continue
            meta = json.loads(raw)
            if meta.get("status") != "SUCCESS" or meta.get("result") != expected(i):
                problems.append(f"{ids[i]}: {meta.get('status')} {meta.get('result')!r:.80}")
            finished.append(_timestamp(meta["date_done"]))
        side.client.unlink(*keys[start : start + 1000])
    if len(finished) < len(keys):
        problems.insert(0, f"only {len(finished)} of {len(keys)} results within {timeout:g} s")
    return finished, problems


def _timestamp(iso: str) -> float:
    when = datetime.fromisoformat(iso)
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def count_problems(client: Any, keys: list[str], count: int, what: str) -> list[str]:
    """Each counter hash must count every number 0..count-1 exactly once (then deleted)."""
    problems = []
    for key in keys:
        seen = {int(k): int(v) for k, v in client.hgetall(key).items()}
        if len(seen) != count or set(seen) != set(range(count)):
            problems.append(f"{key}: {len(seen)} of {count} {what} arrived")
        twice = sum(1 for v in seen.values() if v != 1)
        if twice:
            problems.append(f"{key}: {twice} {what} handled more than once")
        client.unlink(key)
    return problems


def _rate(count: int, released: float, finished: list[float]) -> float:
    return count / (max(finished) - released) if finished else 0.0


def interleave(
    label: str,
    rounds: int,
    variants: dict[str, Callable[[str, bool], dict[str, Any]]],
    show: Callable[[dict[str, Any]], str],
    *,
    warm_up: bool = True,
) -> dict[str, list[dict[str, Any]]]:
    """A warm-up of every variant, then `rounds` rounds, a new order each round."""
    for name, run in variants.items() if warm_up else ():
        problems = run(f"warm-{name}", True)["problems"]
        if problems:
            raise RuntimeError(f"warm-up of {label} {name} failed: {problems[:3]}")
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    for r in range(rounds):
        for name in rotated(tuple(variants), r):
            result = variants[name](f"r{r}-{name}", False)
            results[name].append(result)
            status = "ok" if not result["problems"] else f"PROBLEMS {result['problems'][:3]}"
            print(f"  round {r + 1} {label} {name:<10} {show(result)} {status}", flush=True)
    return results


# --------------------------------------------------------------------- 1. commands


def command_backlog(side: Side, task: str, queue: str, count: int, tag: str) -> dict[str, Any]:
    """Stage `count` commands, release them onto the worker's queue, time them until done."""
    payloads = [{"text": f"{tag} text {i}"} for i in range(count)]
    ids = stage_tasks(side, task, queue + STAGED, payloads, tag)
    before = cpu(side)
    released = release(side.client, {queue + STAGED: queue})
    finished, problems = collect_results(
        side, ids, lambda i: {"text": payloads[i]["text"].upper()}, count / 50 + 60
    )
    return {
        "rate": _rate(count, released, finished),
        "cpu_at_release": before,
        "cpu_ms": cpu_ms(side, before, count),
        "problems": problems[:3],
    }


def round_trips(calls: list[Callable[[str], str]], seconds: float) -> dict[str, Any]:
    """A thread per caller, calling for `seconds`: calls/s, p50 and p99 latency (ms)."""
    for call in calls:  # connections are made before the clock starts
        call("warm")
    latencies: list[list[float]] = [[] for _ in calls]
    problems: list[str] = []
    start = time.perf_counter()
    stop = start + seconds

    def run(k: int) -> None:
        for i in itertools.count():
            if time.perf_counter() >= stop:
                return
            text = f"thread {k} call {i}"
            began = time.perf_counter()
            try:
                answer = calls[k](text)
            except Exception as exc:  # noqa: BLE001  (reported as a problem)
                problems.append(f"{type(exc).__name__}: {exc}")
                continue
            latencies[k].append(time.perf_counter() - began)
            if answer != text.upper():
                problems.append(f"wrong answer {answer!r:.60} to {text!r}")

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    every = sorted(itertools.chain.from_iterable(latencies))
    return {
        "rate": len(every) / elapsed,
        "p50": statistics.median(every) * 1000 if every else 0.0,
        "p99": statistics.quantiles(every, n=100)[98] * 1000 if len(every) > 1 else 0.0,
        "calls": len(every),
        "problems": problems[:3],
    }


def celery_caller(url: str, task: str, queue: str) -> Callable[[], Callable[[str], str]]:
    """A maker of plain Celery round trips (`send_task(...).get()`), one app per thread."""

    def make() -> Callable[[str], str]:
        app = celery_app(url, backend=True)

        def call(text: str) -> str:
            result = app.send_task(task, kwargs={"payload": {"text": text}}, queue=queue)
            return str(result.get(timeout=30)["text"])

        return call

    return make


def invoke_caller() -> Callable[[], Callable[[str], str]]:
    """A maker of invokes through the generated bridge (one bridge per process)."""
    p = project()
    target = p.project.COMMANDS[ECHO_TASK]

    def make() -> Callable[[str], str]:
        bridge = p.app.get_bridge()

        def call(text: str) -> str:
            return str(bridge.invoke(target, {"text": text}, p.EchoOutput, p.Message.first()).text)

        return call

    return make


def part_commands(b: Bench, args: argparse.Namespace) -> dict[str, Any]:
    """Part 1: backlog throughput, then round trips, both workers up for the whole part."""
    gen, hand = b.sides["generated"], b.sides["hand"]
    with b.running(["echo"], ["hand.echo"]):

        def backlog(side: Side, task: str, queue: str) -> Callable[[str, bool], dict[str, Any]]:
            return lambda tag, warm: command_backlog(
                side, task, queue, WARMUP if warm else args.commands, tag
            )

        backlogs = interleave(
            "(a) backlog",
            args.rounds,
            {
                "hand": backlog(hand, "hand.echo", "hand.echo"),
                "generated": backlog(gen, ECHO_TASK, ECHO_QUEUE),
            },
            lambda r: f"{r['rate']:7.0f} commands/s, worker CPU {r['cpu_ms']:.2f} ms/command",
        )
        trips = part_round_trips(b, args)
        # Celery's AsyncResults sit in reference cycles; collected after Redis stopped, each
        # would retry to unsubscribe for a while.
        gc.collect()
    return {"backlog": backlogs, "trips": trips}


def part_round_trips(b: Bench, args: argparse.Namespace) -> dict[str, Any]:
    """Parts 1(b) and 1(c): round trips, the callers made once per variant."""
    gen, hand = b.sides["generated"], b.sides["hand"]
    makers = {
        "hand": celery_caller(hand.url, "hand.echo", "hand.echo"),
        "generated": celery_caller(gen.url, ECHO_TASK, ECHO_QUEUE),
        "invoke": invoke_caller(),
    }
    callers = {name: [make() for _ in range(CLIENT_THREADS)] for name, make in makers.items()}
    return interleave(
        "(b,c) round trip",
        args.rounds,
        {
            name: (lambda tag, warm, c=calls: round_trips(c, 1.0 if warm else args.duration))
            for name, calls in callers.items()
        },
        lambda r: f"{r['rate']:7.0f} calls/s, p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms",
    )


# ----------------------------------------------------------------------- 2. events


@contextlib.contextmanager
def staged_routes() -> Iterator[None]:
    """Point the generated bridge's event routes at staging lists for the block."""
    bridge = project().bridge
    original = bridge.EVENT_ROUTES
    bridge.EVENT_ROUTES = {
        event: tuple(dataclasses.replace(r, queue=r.queue + STAGED) for r in routes)
        for event, routes in original.items()
    }
    try:
        yield
    finally:
        bridge.EVENT_ROUTES = original


def stage_events(side: Side, event: str, count: int, tag: str) -> dict[str, str]:
    """Emit `count` events to staging lists; {staging list: its subscription queue}."""
    if side.name == "generated":
        p = project()
        routes = p.project.EVENT_ROUTES[event]
        bridge = p.app.get_bridge()
        with staged_routes():
            for i in range(count):
                bridge.emit(event, {"n": i, "tag": tag}, p.Message.first())
        moves = {r.queue + STAGED: r.queue for r in routes}
    else:
        moves = {f"hand.{name}{STAGED}": f"hand.{name}" for name in SUBSCRIBERS[event]}
        for i in range(count):
            for staging, queue in moves.items():
                side.sender.send_task(
                    queue, kwargs={"payload": {"n": i, "tag": tag}}, queue=staging
                )
    for staging in moves:
        if side.client.llen(staging) != count:
            raise RuntimeError(f"{side.client.llen(staging)} events on {staging}, not {count}")
    return moves


def event_run(side: Side, event: str, count: int, tag: str) -> dict[str, Any]:
    """Stage `count` events, release them, time them until every subscriber counted each."""
    moves = stage_events(side, event, count, tag)
    counters = [f"bench:ev:{tag}:{name}" for name in SUBSCRIBERS[event]]

    def done() -> bool:
        with side.client.pipeline(transaction=False) as pipe:
            for key in counters:
                pipe.hlen(key)
            return all(n >= count for n in pipe.execute())

    before = cpu(side)
    released = release(side.client, moves)
    finished = wait_until(done, count * len(counters) / 50 + 60)
    elapsed = time.time() - released
    used = cpu_ms(side, before, count * len(counters))
    time.sleep(0.1)  # room for a second delivery of any event to show up
    problems = [] if finished else [f"not every event delivered after {elapsed:.0f} s"]
    problems += count_problems(side.client, counters, count, "events")
    if side.name == "generated":
        jobs = project().jobs
        for queue in moves.values():
            k = jobs.keys(queue)
            retried, dead = side.client.zcard(k["scheduled"]), side.client.llen(k["dead"])
            if retried or dead:
                problems.append(f"{queue}: {retried} retries scheduled, {dead} dead letters")
    return {"rate": count * len(counters) / elapsed, "cpu_ms": used, "problems": problems[:3]}


def part_events(b: Bench, args: argparse.Namespace) -> dict[str, Any]:
    """Part 2: events with 1 and 3 subscriptions, both workers up for the whole part."""
    hand_queues = [f"hand.{name}" for names in SUBSCRIBERS.values() for name in names]
    results = {}
    with b.running(["fan"], hand_queues):
        for event, names in SUBSCRIBERS.items():
            results[event] = interleave(
                f"event {event} ({len(names)} subscriber(s))",
                args.rounds,
                {
                    name: (
                        lambda tag, warm, s=b.sides[name], e=event: event_run(
                            s, e, 200 if warm else args.events, tag
                        )
                    )
                    for name in ("hand", "generated")
                },
                lambda r: f"{r['rate']:7.0f} deliveries/s, worker CPU {r['cpu_ms']:.2f} ms each",
            )
    return results


# ------------------------------------------------------------------------- 3. jobs


def stage_jobs(queue: str, count: int, tag: str) -> tuple[dict[str, str], list[str]]:
    """Enqueue `count` jobs on a staging name of `queue`: {its pending list: `queue`'s}, ids."""
    p = project()
    staging = dataclasses.replace(p.project.QUEUES[queue], name=queue + STAGED)
    bridge, message = p.app.get_bridge(), p.Message.first()
    ids = [bridge.enqueue(staging, {"n": i, "tag": tag}, message) for i in range(count)]
    return {p.jobs.keys(staging.name)["pending"]: p.jobs.keys(queue)["pending"]}, ids


def job_records(client: Any, ids: list[str]) -> list[dict[str, Any]]:
    """The records of jobs, read and deleted."""
    fields = ("status", "attempt", "started_at", "finished_at")
    keys = [project().jobs.job_key(job_id) for job_id in ids]
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hmget(key, *fields)
        rows = [dict(zip(fields, row, strict=True)) for row in pipe.execute()]
    for start in range(0, len(keys), 1000):
        client.unlink(*keys[start : start + 1000])
    return rows


def generated_jobs(
    side: Side, queue: str, ids: list[str], tag: str, moves: dict[str, str]
) -> dict[str, Any]:
    """Release staged jobs onto `queue`'s worker(s) and time them until every one finished."""
    p = project()
    count = len(ids)
    k = p.jobs.keys(queue)
    counter = f"bench:job:{tag}"
    before = cpu(side)
    released = release(side.client, moves)
    finished = wait_until(
        lambda: (
            side.client.hlen(counter) >= count
            and not side.client.llen(k["pending"])
            and not side.client.zcard(k["leased"])
        ),
        count * SLEEP * 3 + 60,
    )
    used = cpu_ms(side, before, count)
    time.sleep(0.1)  # room for a second run of any job to show up
    records = job_records(side.client, ids)
    problems = [] if finished else ["not every job finished in time"]
    problems += count_problems(side.client, [counter], count, "jobs")
    bad = [r for r in records if r["status"] != b"succeeded" or r["attempt"] != b"1"]
    if bad:
        problems.append(f"{len(bad)} of {count} jobs not succeeded on attempt 1: {bad[0]}")
    ends = [int(r["finished_at"]) / 1000 for r in records if r["finished_at"]]
    starts = [int(r["started_at"]) / 1000 for r in records if r["started_at"]]
    return {
        "rate": _rate(count, released, ends),
        "busy": _rate(count, min(starts), ends) if starts else 0.0,
        "first_start_ms": (min(starts) - released) * 1000 if starts else 0.0,
        "cpu_ms": used,
        "problems": problems[:3],
    }


def hand_jobs(side: Side, count: int, tag: str) -> dict[str, Any]:
    """Stage `count` Celery tasks, release them, time them until every result is stored."""
    payloads = [{"n": i, "tag": tag} for i in range(count)]
    ids = stage_tasks(side, "hand.work", "hand.work" + STAGED, payloads, tag)
    before = cpu(side)
    released = release(side.client, {"hand.work" + STAGED: "hand.work"})
    finished, problems = collect_results(side, ids, lambda i: None, count / 50 + 60)
    used = cpu_ms(side, before, count)
    time.sleep(0.1)
    problems += count_problems(side.client, [f"bench:job:{tag}"], count, "jobs")
    return {"rate": _rate(count, released, finished), "cpu_ms": used, "problems": problems[:3]}


def part_jobs(b: Bench, args: argparse.Namespace) -> dict[str, Any]:
    """Part 3: the job worker of `work` against Celery tasks with acks_late."""
    gen, hand = b.sides["generated"], b.sides["hand"]

    def generated(tag: str, warm: bool) -> dict[str, Any]:
        moves, ids = stage_jobs("work", WARMUP if warm else args.jobs, tag)
        return generated_jobs(gen, "work", ids, tag, moves)

    with b.running(["--queue", "work", "--concurrency", "8"], ["hand.work"]):
        return interleave(
            "jobs",
            args.rounds,
            {
                "hand": lambda tag, warm: hand_jobs(hand, WARMUP if warm else args.jobs, tag),
                "generated": generated,
            },
            lambda r: f"{r['rate']:7.0f} jobs/s, worker CPU {r['cpu_ms']:.2f} ms/job",
        )


# ------------------------------------------------------------------------ 4. scale


def scale_run(b: Bench, workers: int, count: int, tag: str) -> dict[str, Any]:
    """`workers` processes of `worker --queue slow --concurrency 1` on `count` staged jobs."""
    side = b.sides["generated"]
    procs = [b.generated(["--queue", "slow", "--concurrency", "1"]) for _ in range(workers)]
    logs = b.opened[-workers:]
    try:
        moves, ids = stage_jobs("slow", count, tag)
        if not wait_until(
            lambda: all("worker for job queue" in log.read_text() for log in logs), 120, 0.05
        ):
            raise RuntimeError(f"workers of slow did not start; see {b.logs}")
        time.sleep(0.5)  # idle: the poll backs off to its longest interval
        result = generated_jobs(side, "slow", ids, tag, moves)
    finally:
        for proc in procs:
            b.procs.stop(proc)
    return {**result, "workers": workers}


def part_scale(b: Bench, args: argparse.Namespace) -> dict[str, Any]:
    """Part 4: 1, 2 and 4 worker processes, each with one thread."""
    count = SCALE_JOBS if not args.quick else 60
    return interleave(
        f"scale ({count} jobs of {SLEEP * 1000:g} ms)",
        args.rounds,
        {str(n): (lambda tag, warm, n=n: scale_run(b, n, count, tag)) for n in WORKER_COUNTS},
        lambda r: f"{r['rate']:6.1f} jobs/s (busy {r['busy']:6.1f})",
        warm_up=False,  # every run starts its processes afresh
    )


# -------------------------------------------------------------------- 5. telemetry


def telemetry_run(b: Bench, w: Side, count: int, tag: str, per_command: int) -> dict[str, Any]:
    """One backlog run on a telemetry configuration's worker; a traced run's tail waited for."""
    before = b.sink.stats()["spans"]
    result = command_backlog(w, ECHO_TASK, ECHO_QUEUE, count, tag)
    if w.name == "b" and per_command:
        if problem := wait_for_spans(b.sink, before + per_command * count, 12):
            result["problems"].append(problem)
    result["cpu_ms"] = cpu_ms(w, result["cpu_at_release"], count)
    return result


def telemetry_phase(b: Bench, pool: str, args: argparse.Namespace) -> dict[str, Any]:
    """Three workers of `echo` on `pool` (off, traces, metrics), interleaved rounds."""
    concurrency = "8" if pool == "threads" else str(PREFORK_CONCURRENCY)
    workers: dict[str, Side] = {}
    before = b.sink.stats()["spans"]
    try:
        for db, (name, config) in enumerate(TELEMETRY_CONFIGS.items(), 2):
            w = workers[name] = b.side(config, db)
            env = worker_env(config, w.url, b.root, b.sink.port)
            w.proc = b.generated(["echo", "--pool", pool, "--concurrency", concurrency], env)
        for name, w in workers.items():  # warm-up: also shows every worker is up
            warm = command_backlog(w, ECHO_TASK, ECHO_QUEUE, WARMUP, f"{pool}-warm-{name}")
            if warm["problems"]:
                raise RuntimeError(f"warm-up of {pool} {name}: {warm['problems']}")
        spans = settle_spans(b.sink, quiet=5.5, timeout=20) - before
        per_command = round(spans / WARMUP)
        print(f"  {pool} pool: {spans} spans for {WARMUP} traced commands", flush=True)
        results = interleave(
            f"telemetry {pool}",
            args.rounds,
            {
                name: (
                    lambda tag, warm, w=w: telemetry_run(
                        b, w, 100 if warm else args.commands, f"{pool}-{tag}", per_command
                    )
                )
                for name, w in workers.items()
            },
            lambda r: f"{r['rate']:7.0f} commands/s, CPU {r['cpu_ms']:.2f} ms/command",
        )
    finally:
        for w in workers.values():
            b.procs.stop(w.proc)
    return {"runs": results, "per_command": per_command}


def part_telemetry(b: Bench, args: argparse.Namespace) -> dict[str, Any]:
    """Part 5: both pools."""
    return {pool: telemetry_phase(b, pool, args) for pool in ("threads", "prefork")}


# ----------------------------------------------------------------------------- report


def _spread(values: list[float], fmt: str = ",.0f") -> str:
    return f"{statistics.median(values):{fmt}} [{min(values):{fmt}} .. {max(values):{fmt}}]"


def _problems(*runs: list[dict[str, Any]]) -> list[str]:
    return [p for group in runs for r in group for p in r["problems"]]


def _verdict(value: float, target: float, *, at_most: bool = False) -> str:
    ok = value <= target if at_most else value >= target
    return "meets target" if ok else "MISSES TARGET"


def compare(
    label: str,
    runs: dict[str, list[dict[str, Any]]],
    pair: tuple[str, str],
    key: str,
    target: float | None,
    *,
    unit: str = "/s",
    at_most: bool = False,
) -> list[str]:
    """Lines: each variant's figure (median [min .. max]) and the paired ratio with its verdict."""
    top, base = pair
    problems = _problems(runs[top], runs[base])
    if problems:
        return [f"   {label}: PROBLEMS, no figure: " + "; ".join(problems[:4])]
    fmt = ",.0f" if unit == "/s" else ".2f"
    figures = "; ".join(
        f"{name} {_spread([r[key] for r in runs[name]], fmt)}{unit}" for name in pair
    )
    ratios = [t[key] / b[key] for t, b in zip(runs[top], runs[base], strict=True)]
    ratio = statistics.median(ratios)
    line = f"   {label}: {figures}; {top}/{base} = {_spread(ratios, '.2f')}x"
    if target is not None:
        sign = "<=" if at_most else ">="
        line += f" (target {sign} {target}x: {_verdict(ratio, target, at_most=at_most)})"
    return [line]


def compare_with_cpu(
    label: str,
    runs: dict[str, list[dict[str, Any]]],
    pair: tuple[str, str],
    target: float,
    per: str,
) -> list[str]:
    """`compare` of the rates, and of the workers' CPU time per message (no target)."""
    lines = compare(label, runs, pair, "rate", target)
    if not _problems(runs[pair[0]], runs[pair[1]]):
        lines += compare(f"   worker CPU per {per}", runs, pair, "cpu_ms", None, unit=" ms")
    return lines


def report_commands(args: argparse.Namespace, f: dict[str, Any]) -> list[str]:
    """Part 1's lines."""
    trips = f["trips"]
    lines = [
        "1. command echo.v1.echo, threads pool, 8 slots (generated: prefetch disabled;"
        " hand-written: Celery's defaults, 4 prefetched per slot, + JSON)",
        *compare_with_cpu(
            f"(a) worker throughput, backlog of {args.commands:,} (commands/s)",
            f["backlog"],
            ("generated", "hand"),
            TARGETS["command"],
            "command",
        ),
        f"   (b) round trip, {CLIENT_THREADS} threads of send_task(...).get(), {args.duration:g} s"
        " per run:",
    ]
    for variant, label in (("generated", "generated worker"), ("invoke", "(c) bridge.invoke")):
        pair = (variant, "hand")
        lines += compare(f"   {label} calls/s", trips, pair, "rate", None)
        lines += compare(
            f"   {label} p50",
            trips,
            pair,
            "p50",
            TARGETS["round_trip_p50"],
            unit=" ms",
            at_most=True,
        )
        lines += compare(f"   {label} p99", trips, pair, "p99", None, unit=" ms")
    return lines


def report_events(args: argparse.Namespace, f: dict[str, Any]) -> list[str]:
    """Part 2's lines."""
    lines = [
        f"2. event delivery, emit -> every handler done, {args.events:,} events per run,"
        " threads pool, 8 slots (deliveries/s)"
    ]
    for event, names in SUBSCRIBERS.items():
        label = f"event {event}, {len(names)} subscriber(s)"
        pair = ("generated", "hand")
        lines += compare_with_cpu(label, f[event], pair, TARGETS["events"], "delivery")
    if not _problems(*(runs for e in f.values() for runs in e.values())):
        lines.append("   every event reached every subscriber once; no retry, no dead letter")
    return lines


def report_jobs(args: argparse.Namespace, f: dict[str, Any]) -> list[str]:
    """Part 3's lines."""
    lines = [
        f"3. jobs, {args.jobs:,} per run: worker --queue work --concurrency 8 against Celery"
        " acks_late on -P threads -c 8 (jobs/s, release -> last outcome recorded)",
        *compare_with_cpu("jobs", f, ("generated", "hand"), TARGETS["jobs"], "job"),
    ]
    if not _problems(*f.values()):
        first = statistics.median(r["first_start_ms"] for r in f["generated"])
        lines.append(
            f"   generated: busy {_spread([r['busy'] for r in f['generated']])} jobs/s (from the"
            f" first start); first job started {first:.0f} ms after the release; every job and"
            " task ran once and succeeded on attempt 1"
        )
    return lines


def report_scale(f: dict[str, Any], count: int) -> list[str]:
    """Part 4's lines."""
    lines = [
        f"4. scale: worker --queue slow --concurrency 1 x 1, 2, 4 processes, {count} jobs of"
        f" {SLEEP * 1000:g} ms (jobs/s from release; busy: from the first start)"
    ]
    problems = _problems(*f.values())
    if problems:
        return [*lines, "   PROBLEMS, no figure: " + "; ".join(problems[:4])]
    for n in WORKER_COUNTS:
        runs = f[str(n)]
        lines.append(
            f"   {n} process(es): {_spread([r['rate'] for r in runs], '.1f')} jobs/s;"
            f" busy {_spread([r['busy'] for r in runs], '.1f')};"
            f" first start {statistics.median(r['first_start_ms'] for r in runs):.0f} ms after"
            " the release"
        )
    for key, label in (("rate", "from release"), ("busy", "busy span")):
        ratios = [a[key] / b[key] for a, b in zip(f["4"], f["1"], strict=True)]
        ratio = statistics.median(ratios)
        target = TARGETS["scale"]
        lines.append(
            f"   4:1 {label} = {_spread(ratios, '.2f')}x"
            + (f" (target >= {target}x: {_verdict(ratio, target)})" if key == "rate" else "")
        )
    return lines


def report_telemetry(args: argparse.Namespace, f: dict[str, Any]) -> list[str]:
    """Part 5's lines."""
    lines = [
        f"5. telemetry, command worker throughput, backlog of {args.commands:,} (commands/s);"
        " OTLP http/protobuf to a local sink"
    ]
    for pool, phase in f.items():
        runs = phase["runs"]
        slots = 8 if pool == "threads" else PREFORK_CONCURRENCY
        lines.append(
            f"   {pool} pool, {slots} slots; {phase['per_command']} span(s) per traced command:"
        )
        for name in ("traces", "metrics"):
            label = f"   {name} on"
            lines += compare_with_cpu(label, runs, (name, "off"), TARGETS[name], "command")
    return lines


def report(args: argparse.Namespace, env: dict[str, Any], figures: dict[str, Any]) -> str:
    """The block of figures printed at the end."""
    lines = [
        f"=== generated runtime vs hand-written Celery: {env['platform']}, {env['cpus']} CPUs,"
        f" redis {env['redis']}, python {env['python']}, {env['versions']}",
        f"{args.rounds} round(s), variants interleaved (order rotated each round); figures:"
        " median [min .. max] over rounds; ratios: median [min .. max] of per-round ratios",
    ]
    parts: dict[str, Callable[[dict[str, Any]], list[str]]] = {
        "commands": lambda f: report_commands(args, f),
        "events": lambda f: report_events(args, f),
        "jobs": lambda f: report_jobs(args, f),
        "scale": lambda f: report_scale(f, 60 if args.quick else SCALE_JOBS),
        "telemetry": lambda f: report_telemetry(args, f),
    }
    for name, lines_of in parts.items():
        if name in figures:
            lines += lines_of(figures[name])
    return "\n".join(lines)


# ------------------------------------------------------------------------------- main

PARTS: tuple[tuple[str, Callable[[Bench, argparse.Namespace], Any]], ...] = (
    ("commands", part_commands),
    ("events", part_events),
    ("jobs", part_jobs),
    ("scale", part_scale),
    ("telemetry", part_telemetry),
)


def environment(b: Bench) -> dict[str, Any]:
    """Versions and the machine, for the report's first line."""
    from importlib.metadata import version  # noqa: PLC0415

    packages = ("celery", "kombu", "redis", "pydantic", "opentelemetry-sdk")
    return {
        "platform": platform.platform(terse=True),
        "cpus": os.cpu_count(),
        "redis": b.sides["generated"].client.info("server")["redis_version"],
        "python": platform.python_version(),
        "versions": ", ".join(f"{p} {version(p)}" for p in packages),
    }


def inside(args: argparse.Namespace) -> None:
    """The measurements, in the project's venv."""
    sys.path.insert(0, str(ROOT / "tests"))
    from support import Processes, private_redis  # noqa: PLC0415

    for key in [k for k in os.environ if k.startswith("OTEL_")]:
        del os.environ[key]
    root = Path(args.inside)
    sys.path.insert(0, str(root / "src"))
    logs = root.parent / "logs"
    logs.mkdir(exist_ok=True)
    sink, procs = Sink(), Processes()
    started = time.monotonic()
    try:
        with private_redis(root.parent) as url:
            base = url.rsplit("/", 1)[0]
            os.environ["REDIS_URL"] = f"{base}/0"  # the generated bridge's (this process's)
            b = Bench(root, root.parent / "hand", logs, base, sink, procs)
            b.sides = {"generated": b.side("generated", 0), "hand": b.side("hand", 1)}
            print(f"redis-server at {base}, OTLP sink at http://127.0.0.1:{sink.port}", flush=True)
            figures = {}
            for n, (name, part) in enumerate(PARTS, 1):
                if args.only and name not in args.only:
                    continue
                print(f"{n}. {name} ({time.monotonic() - started:.0f} s)", flush=True)
                figures[name] = part(b, args)
            print(f"done in {time.monotonic() - started:.0f} s\n", flush=True)
            print(report(args, environment(b), figures))
    finally:
        procs.stop_all()
        sink.close()


def prepare(tmp: Path) -> tuple[Path, Path]:
    """Generate the project, write its handlers and the hand-written app; the root and venv."""
    sys.path.insert(0, str(ROOT / "tests"))
    from support import project_venv, purista  # noqa: PLC0415

    made = purista("new", PACKAGE, "--spec", str(SPEC), "--output", str(tmp))
    if made.returncode:
        raise SystemExit(f"purista new failed:\n{made.stdout}\n{made.stderr}")
    root = tmp / PACKAGE
    write_handlers(root)
    (tmp / "hand").mkdir()
    (tmp / "hand" / "handapp.py").write_text(textwrap.dedent(HAND_APP).lstrip())
    return root, project_venv(root)


def options() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every comparison")
    parser.add_argument("--commands", type=int, default=3000, help="commands per backlog run")
    parser.add_argument("--duration", type=float, default=8, help="seconds per round-trip run")
    parser.add_argument("--events", type=int, default=2000, help="events per run")
    parser.add_argument("--jobs", type=int, default=3000, help="jobs per run")
    parser.add_argument("--quick", action="store_true", help="small numbers, one round")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--only",
        action="append",
        choices=[name for name, _ in PARTS],
        help="measure this part only (repeatable; default: all)",
    )
    parser.add_argument("--inside", help=argparse.SUPPRESS)
    if parser.parse_args().quick:
        parser.set_defaults(**QUICK)  # options given explicitly still win
    return parser.parse_args()


def main() -> None:
    """Generate and install the project, then measure inside its venv."""
    args = options()
    if args.inside:
        inside(args)
        return
    print("$ " + shlex.join([sys.executable, *sys.argv]), flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="purista-rtbench-"))
    started = time.monotonic()
    ok = False
    try:
        root, venv = prepare(tmp)
        print(f"project {root}, venv {venv} ({time.monotonic() - started:.0f} s)", flush=True)
        inner = [str(venv / "bin" / "python"), str(Path(__file__).resolve()), "--inside", str(root)]
        for key in ("rounds", "commands", "duration", "events", "jobs"):
            inner += [f"--{key}", str(getattr(args, key))]
        inner += ["--quick"] if args.quick else []
        inner += [f"--only={part}" for part in args.only or ()]
        result = subprocess.run(inner, cwd=root, check=False)
        if result.returncode:
            raise SystemExit(f"the measurement failed (exit {result.returncode}); logs in {tmp}")
        ok = True
        print(f"whole run: {time.monotonic() - started:.0f} s")
    finally:
        if args.keep or not ok:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
