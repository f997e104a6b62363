"""Benchmark the generated job queues on a private Redis (run on demand; not a test).

    .venv/bin/python benchmarks/jobs.py [--rounds 3] [--enqueue-rounds 5] [--enqueue 5000]
                                        [--promote 10000] [--jobs 400] [--keep]

Generates a project from `benchmarks/specs/jobbench.yaml` (service `media` with a
job queue `sleepy` and a command that may enqueue into it), writes a handler that
sleeps 20 ms and counts its runs, installs the project in a cached venv
(`tests/support.project_venv`), starts a `redis-server` of its own on a free port
and measures, interleaving the compared variants round by round (the machine is
shared and noisy, so no variant gets all the quiet moments):

1. enqueue rate: a raw Celery `send_task` (broker only, `ignore_result`) against the
   generated `CeleryBridge.enqueue` (what `JobStore.enqueue` costs behind a handler)
   and the typed `context.queue.enqueue.sleepy(...)` (which validates the payload
   first), `--enqueue` calls each per round in slices of 500 that take turns;
   target >= 0.8x of Celery;
2. promotion of `--promote` due delayed jobs: `JobStore.promote` timed until every
   job is pending, with the default `schedule_batch_size` (50) and, for reference,
   500; then the time a running worker's own poll loop takes from the moment they
   all fall due until none is left scheduled;
3. throughput of 1, 2 and 4 worker processes (`python -m jobbench worker --queue
   sleepy --concurrency 1` each) on `--jobs` jobs of 20 ms: jobs/s from the first
   enqueue to the last finish, and the ratio 4:1 (target >= 3.5x); every job must
   have succeeded exactly once (one run counted by the handler, attempt 1).

Measurements inside the project run in the project's venv: this file re-runs
itself there with `--inside <part>` and reads one JSON line back. The last block
of output is meant to be pasted into a report.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import itertools
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "benchmarks" / "specs" / "jobbench.yaml"
PACKAGE = "jobbench"
SERVICE = "media"
QUEUE = "sleepy"
RAW_QUEUE = "jobbench-raw.celery"
SLICE = 500  # calls per variant before the next variant takes its turn
SLEEP = 0.020
PROMOTE_BATCHES = (50, 500)
WORKER_COUNTS = (1, 2, 4)
TARGET_ENQUEUE = 0.8
TARGET_SCALE = 3.5

HANDLER = textwrap.dedent(
    f'''
    """Benchmark handler: sleep {SLEEP * 1000:g} ms, count the run by job id and by process."""

    from __future__ import annotations

    import os
    import time

    import redis

    from jobbench.services.media.v1._generated.context import Job, SleepyContext
    from jobbench.services.media.v1._generated.models import SleepyJob

    _client = redis.Redis.from_url(os.environ["REDIS_URL"])


    def handle(context: SleepyContext, job: Job[SleepyJob]) -> dict[str, int]:
        """Sleep, then record that this job ran once more, in which process, under which id."""
        time.sleep({SLEEP})
        tag = job.payload.tag
        with _client.pipeline(transaction=False) as pipe:
            pipe.hincrby(f"bench:runs:{{tag}}", job.id, 1)
            pipe.hincrby(f"bench:pids:{{tag}}", str(os.getpid()), 1)
            pipe.hset(f"bench:message:{{tag}}", job.id, context.message.message_id)
            pipe.execute()
        return {{"n": job.payload.n, "pid": os.getpid()}}
    '''
).lstrip()


# ------------------------------------------------------------------ Redis key layout


def runtime_jobs() -> Any:
    """The generated project's `_purista.jobs` (its `src` is on the path): keys, records."""
    return importlib.import_module(f"{PACKAGE}._purista.jobs")


def queue_keys() -> dict[str, str]:
    """The Redis keys of the benchmark's job queue, as the runtime names them."""
    return dict(runtime_jobs().keys(QUEUE))


def job_key(job_id: str) -> str:
    """The hash holding one job, as the runtime names it."""
    return str(runtime_jobs().job_key(job_id))


def clear(client: Any) -> None:
    """Delete every key but kombu's queue bindings (which a running Celery producer caches)."""
    doomed = [k for k in client.scan_iter(count=5000) if not k.startswith(b"_kombu.")]
    with client.pipeline(transaction=False) as pipe:
        for start in range(0, len(doomed), 5000):
            pipe.unlink(*doomed[start : start + 5000])
        pipe.execute()


def redis_now(client: Any) -> float:
    """The Redis server's clock in seconds (the job records are stamped with it)."""
    seconds, micros = client.time()
    return float(seconds) + micros / 1e6


# ------------------------------------------------------------ inside the project venv


def _project() -> SimpleNamespace:
    def mod(name: str) -> Any:
        return importlib.import_module(f"{PACKAGE}.{name}")

    return SimpleNamespace(
        app=mod("_purista.app"),
        project=mod("_purista.project"),
        jobs=mod("_purista.jobs"),
        context=mod("_purista.context"),
        generated=mod(f"services.{SERVICE}.v1._generated.context"),
    )


def _rotated(items: tuple[Any, ...] | list[Any], index: int) -> list[Any]:
    shift = index % len(items)
    return [*items[shift:], *items[:shift]]


def inside_enqueue(rounds: int, count: int) -> dict[str, Any]:
    """Part 1: enqueue rate of Celery, the bridge and the typed context, interleaved."""
    from celery import Celery  # noqa: PLC0415  (only in the project's venv)

    p = _project()
    client = p.app.get_client()
    bridge = p.app.get_bridge()
    queue = p.project.QUEUES[QUEUE]
    message = p.context.Message.first()
    context = p.generated.UploadContext(
        name=f"{SERVICE}.v1.upload",
        bridge=bridge,
        message=message,
        states=p.app.states_for(SERVICE),
    )
    raw = Celery("raw", broker=os.environ["REDIS_URL"], set_as_current=False)
    raw.conf.update(task_serializer="json", accept_content=["json"])

    def celery_send(i: int) -> None:
        raw.send_task(
            "raw.sleepy",
            kwargs={"payload": {"n": i, "tag": "enqueue"}},
            queue=RAW_QUEUE,
            ignore_result=True,
        )

    def bridge_enqueue(i: int) -> None:
        bridge.enqueue(queue, {"n": i, "tag": "enqueue"}, message)

    def context_enqueue(i: int) -> None:
        context.queue.enqueue.sleepy({"n": i, "tag": "enqueue"})

    variants: dict[str, Callable[[int], None]] = {
        "celery": celery_send,
        "bridge": bridge_enqueue,
        "context": context_enqueue,
    }
    for send in variants.values():  # connections, script loading, imports
        for i in range(300):
            send(i)
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(rounds):
        clear(client)
        gc.collect()
        spent = dict.fromkeys(variants, 0.0)
        for n, first in enumerate(range(0, count, SLICE)):
            for name in _rotated(list(variants), r + n):
                send = variants[name]
                start = time.perf_counter()
                for i in range(first, min(first + SLICE, count)):
                    send(i)
                spent[name] += time.perf_counter() - start
        for key, expected in ((RAW_QUEUE, count), (queue_keys()["pending"], 2 * count)):
            if client.llen(key) != expected:
                raise RuntimeError(f"{client.llen(key)} messages on {key}, expected {expected}")
        for name in variants:
            rates[name].append(count / spent[name])
    clear(client)
    return {"rates": rates}


def _enqueue_delayed(p: SimpleNamespace, queue: Any, count: int, delay: float) -> list[str]:
    bridge, message = p.app.get_bridge(), p.context.Message.first()
    return [
        bridge.enqueue(queue, {"n": i, "tag": "promote"}, message, delay=delay)
        for i in range(count)
    ]


def _wait_until_due(client: Any) -> None:
    last = client.zrange(queue_keys()["scheduled"], -1, -1, withscores=True)
    if last:
        time.sleep(max(0.0, last[0][1] / 1000 - redis_now(client)) + 0.005)


def _check_promoted(client: Any, ids: list[str]) -> list[str]:
    k = queue_keys()
    problems = []
    if client.llen(k["pending"]) != len(ids) or client.zcard(k["scheduled"]):
        problems.append(
            f"pending {client.llen(k['pending'])}, scheduled {client.zcard(k['scheduled'])}"
        )
    with client.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hget(job_key(job_id), "status")
        statuses = pipe.execute()
    wrong = sum(1 for s in statuses if s != b"queued")
    if wrong:
        problems.append(f"{wrong} jobs not in status queued")
    return problems


def inside_promote(rounds: int, count: int, delay: float) -> dict[str, Any]:
    """Part 2a: `JobStore.promote` on `count` due jobs, default batch and a larger one."""
    p = _project()
    client = p.app.get_client()
    store = p.jobs.JobStore(client)
    runs: list[dict[str, Any]] = []
    for r in range(rounds):
        for batch in _rotated(PROMOTE_BATCHES, r):
            queue = replace(p.project.QUEUES[QUEUE], schedule_batch_size=batch)
            clear(client)
            ids = _enqueue_delayed(p, queue, count, delay)
            _wait_until_due(client)
            gc.collect()
            client.config_resetstat()
            moved, calls = 0, 0
            start = time.perf_counter()
            while moved < count and calls < 100:
                moved += store.promote(queue)
                calls += 1
            elapsed = time.perf_counter() - start
            stats = client.info("commandstats").get("cmdstat_evalsha", {})
            runs.append(
                {
                    "batch": batch,
                    "seconds": elapsed,
                    "promote_calls": calls,
                    "script_calls": stats.get("calls", 0),
                    "redis_seconds": stats.get("usec", 0) / 1e6,
                    "problems": _check_promoted(client, ids),
                }
            )
    clear(client)
    return {"runs": runs}


def inside_worker_promote(count: int, lead: float) -> dict[str, Any]:
    """Part 2b: `count` jobs falling due at one moment; a running worker promotes them."""
    p = _project()
    client = p.app.get_client()
    bridge, message = p.app.get_bridge(), p.context.Message.first()
    queue = p.project.QUEUES[QUEUE]
    offset = redis_now(client) - time.time()
    due = time.time() + offset + lead
    for i in range(count):
        delay = max(0.001, due - time.time() - offset)
        bridge.enqueue(queue, {"n": i, "tag": "worker-promote"}, message, delay=delay)
    enqueued = time.time() + offset
    sched = queue_keys()["scheduled"]
    (_, first_due), (_, last_due) = (
        client.zrange(sched, 0, 0, withscores=True)[0],
        client.zrange(sched, -1, -1, withscores=True)[0],
    )
    first_move = all_moved = None
    while time.time() + offset < last_due / 1000 + 30:
        left = client.zcard(sched)
        now = time.time() + offset
        if first_move is None and left < count:
            first_move = now
        if left == 0:
            all_moved = now
            break
        time.sleep(0.002)
    return {
        "lead_overrun": enqueued > first_due / 1000,
        "due_spread_ms": last_due - first_due,
        "first_moved_after": None if first_move is None else first_move - last_due / 1000,
        "all_moved_after": None if all_moved is None else all_moved - last_due / 1000,
    }


def inside_feed(count: int, tag: str) -> dict[str, Any]:
    """Part 3: enqueue `count` jobs the way a handler does, through its typed context."""
    p = _project()
    bridge = p.app.get_bridge()
    context = p.generated.UploadContext(
        name=f"{SERVICE}.v1.upload",
        bridge=bridge,
        message=p.context.Message.first(),
        states=p.app.states_for(SERVICE),
    )
    return {"ids": [context.queue.enqueue.sleepy({"n": i, "tag": tag}).id for i in range(count)]}


def inside_versions() -> dict[str, Any]:
    """Library versions in the project venv."""
    from importlib.metadata import version  # noqa: PLC0415

    names = {"celery": "celery", "kombu": "kombu", "redis-py": "redis", "pydantic": "pydantic"}
    return {label: version(name) for label, name in names.items()}


def inside(argv: list[str]) -> None:
    """Run one part inside the project venv and print its result as one JSON line."""
    part, *rest = argv
    if part == "enqueue":
        result = inside_enqueue(int(rest[0]), int(rest[1]))
    elif part == "promote":
        result = inside_promote(int(rest[0]), int(rest[1]), float(rest[2]))
    elif part == "worker-promote":
        result = inside_worker_promote(int(rest[0]), float(rest[1]))
    elif part == "feed":
        result = inside_feed(int(rest[0]), rest[1])
    else:
        result = inside_versions()
    print(json.dumps(result))


# ------------------------------------------------------------------------ orchestrator


@dataclass
class Bench:
    """A generated, installed project and the Redis it runs on."""

    root: Path
    python: str
    url: str
    logs: Path
    client: Any
    procs: Any
    started: int = 0
    notes: list[str] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        """The environment of the project's processes."""
        return {
            **os.environ,
            "REDIS_URL": self.url,
            "PYTHONPATH": str(self.root / "src"),
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_METRICS_EXPORTER": "none",
        }

    def inside(self, *args: object, timeout: float = 300) -> Any:
        """Run this file in the project venv with `--inside args` and return its JSON answer."""
        result = subprocess.run(
            [self.python, str(Path(__file__).resolve()), "--inside", *map(str, args)],
            cwd=self.root,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode:
            raise RuntimeError(f"--inside {args} failed:\n{result.stdout}\n{result.stderr}")
        return json.loads(result.stdout.strip().splitlines()[-1])

    @contextlib.contextmanager
    def workers(self, count: int) -> Iterator[list[Any]]:
        """`count` job workers with one thread each, running until the block ends."""
        procs, logs = [], []
        for _ in range(count):
            self.started += 1
            log = self.logs / f"worker-{self.started}.log"
            logs.append(log)
            procs.append(
                self.procs.start(
                    [self.python, "-m", PACKAGE, "worker", "--queue", QUEUE, "--concurrency", "1"],
                    cwd=self.root,
                    env=self.env(),
                    log=log,
                )
            )
        try:
            ready = wait_until(
                lambda: all("worker for job queue" in log.read_text() for log in logs), 120
            )
            if not ready:
                raise RuntimeError(f"workers did not start; see {self.logs}")
            yield procs
        finally:
            for proc in procs:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
            for proc in procs:
                self.procs.stop(proc)


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.01) -> bool:
    """Poll `predicate` until it is truthy or `timeout` seconds pass."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return False


def part_enqueue(b: Bench, rounds: int, count: int) -> dict[str, Any]:
    """Part 1 (all rounds run in one process, variants interleaved)."""
    rates = b.inside("enqueue", rounds, count)["rates"]
    ratios = {
        name: [v / c for v, c in zip(rates[name], rates["celery"], strict=True)]
        for name in ("bridge", "context")
    }
    return {"rates": rates, "ratios": ratios}


def part_promote(b: Bench, rounds: int, count: int, enqueue_rate: float) -> dict[str, Any]:
    """Part 2: promotion by `JobStore.promote`, then by a worker's poll loop."""
    lead = count / enqueue_rate * 1.5 + 1.0
    direct = b.inside("promote", rounds, count, 0.5)["runs"]
    polled = []
    for r in range(rounds):
        b.client.flushdb()
        with b.workers(1):
            polled.append(b.inside("worker-promote", count, round(lead, 3)))
        b.client.flushdb()
        w = polled[-1]
        print(
            f"  round {r + 1}, worker poll loop: first moved {w['first_moved_after']:.3f} s,"
            f" all moved {w['all_moved_after']:.3f} s after the jobs fell due",
            flush=True,
        )
    return {"direct": direct, "worker": polled, "lead": lead}


def _throughput_round(b: Bench, workers: int, count: int, tag: str) -> dict[str, Any]:
    k = queue_keys()
    b.client.flushdb()
    with b.workers(workers) as procs:
        cpu = sum(cpu_seconds(proc.pid) for proc in procs)
        ids = b.inside("feed", count, tag)["ids"]
        finished = wait_until(
            lambda: (
                b.client.hlen(f"bench:runs:{tag}") >= count
                and not b.client.llen(k["pending"])
                and not b.client.zcard(k["leased"])
            ),
            count * SLEEP * 3 + 60,
            interval=0.05,
        )
        cpu = sum(cpu_seconds(proc.pid) for proc in procs) - cpu
        time.sleep(0.3)  # room for a second run of any job to show up
    fields = ("status", "attempt", "created_at", "started_at", "finished_at", "result")
    with b.client.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hmget(job_key(job_id), *fields)
        records = [dict(zip(fields, row, strict=True)) for row in pipe.execute()]
    runs = {key.decode(): int(v) for key, v in b.client.hgetall(f"bench:runs:{tag}").items()}
    pids = sorted(int(v) for v in b.client.hgetall(f"bench:pids:{tag}").values())
    messages = set(b.client.hvals(f"bench:message:{tag}"))
    problems = []
    if not finished:
        problems.append(f"timed out with {len(runs)} of {count} jobs run")
    if len(set(ids)) != count or set(runs) != set(ids):
        problems.append(f"{len(set(ids))} ids enqueued, {len(runs)} distinct jobs ran")
    if any(n != 1 for n in runs.values()):
        problems.append(f"{sum(1 for n in runs.values() if n != 1)} jobs ran more than once")
    bad = [r for r in records if r["status"] != b"succeeded" or r["attempt"] != b"1"]
    if bad:
        problems.append(f"{len(bad)} jobs not succeeded on attempt 1, e.g. {bad[0]}")
    if b.client.llen(k["dead"]):
        problems.append(f"{b.client.llen(k['dead'])} dead letters")
    ok = [r for r in records if r["finished_at"]]
    created = min(int(r["created_at"]) for r in ok) / 1000
    started = min(int(r["started_at"]) for r in ok) / 1000
    last = max(int(r["finished_at"]) for r in ok) / 1000
    run_ms, gap_ms = _run_and_gap(ok)
    return {
        "workers": workers,
        "cpu_ms_per_job": cpu / count * 1000,
        "run_ms": run_ms,
        "gap_ms": gap_ms,
        "jobs_per_s": count / (last - created),
        "busy_jobs_per_s": count / (last - started),
        "first_start_ms": (started - created) * 1000,
        "per_process": pids,
        "distinct_message_ids": len(messages),
        "problems": problems,
    }


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process, all its threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run_and_gap(records: list[dict[str, Any]]) -> tuple[float, float]:
    """Median ms from claim to success, and from a success to the same process's next claim."""
    by_pid: dict[int, list[tuple[int, int]]] = {}
    for r in records:
        pid = json.loads(r["result"])["pid"]
        by_pid.setdefault(pid, []).append((int(r["started_at"]), int(r["finished_at"])))
    runs, gaps = [], []
    for spans in by_pid.values():
        spans.sort()
        runs.extend(f - s for s, f in spans)
        gaps.extend(s2 - f1 for (_, f1), (s2, _) in itertools.pairwise(spans))
    return statistics.median(runs), statistics.median(gaps) if gaps else 0.0


def part_throughput(b: Bench, rounds: int, count: int) -> list[dict[str, Any]]:
    """Part 3: 1, 2 and 4 workers, interleaved round by round."""
    results = []
    for r in range(rounds):
        for workers in _rotated(WORKER_COUNTS, r):
            result = _throughput_round(b, workers, count, f"r{r}w{workers}")
            results.append(result)
            print(
                f"  round {r + 1}, {workers} worker(s): {result['jobs_per_s']:.1f} jobs/s"
                f" {'ok' if not result['problems'] else result['problems']}",
                flush=True,
            )
    return results


# ---------------------------------------------------------------------------- report


def _spread(values: list[float], fmt: str = ",.0f") -> str:
    return (
        f"{statistics.median(values):{fmt}} [{min(values):{fmt}} .. {max(values):{fmt}}]"
        f" over {len(values)}"
    )


def _verdict(value: float, target: float) -> str:
    return "meets target" if value >= target else "BELOW TARGET"


def report(args: argparse.Namespace, env: dict[str, Any], figures: dict[str, Any]) -> str:
    """The block of figures printed at the end."""
    enq, pro, thr = figures["enqueue"], figures["promote"], figures["throughput"]
    lines = [
        f"=== job queue benchmark: {env['platform']}, {env['cpus']} CPUs, redis {env['redis']},"
        f" python {env['python']}, celery {env['celery']}, kombu {env['kombu']},"
        f" redis-py {env['redis-py']}, pydantic {env['pydantic']}",
        f"1. enqueue, {args.enqueue_rounds} rounds x {args.enqueue:,} calls per variant,"
        f" interleaved in slices of {SLICE}"
        " (jobs/s: median [min .. max]; ratio: median of per-round ratios to Celery)",
        f"   celery send_task (raw, broker only)   {_spread(enq['rates']['celery'])}",
    ]
    for name, label in (
        ("bridge", "CeleryBridge.enqueue (JobStore)   "),
        ("context", "context.queue.enqueue.sleepy(...) "),
    ):
        ratio = statistics.median(enq["ratios"][name])
        lines.append(
            f"   {label}    {_spread(enq['rates'][name])}  ->  {ratio:.2f}x of Celery"
            f" [{min(enq['ratios'][name]):.2f} .. {max(enq['ratios'][name]):.2f}]"
            f"  (target >= {TARGET_ENQUEUE}x: {_verdict(ratio, TARGET_ENQUEUE)})"
        )
    lines.append(f"2. promote {args.promote:,} due delayed jobs (ms: median [min .. max])")
    for batch in PROMOTE_BATCHES:
        runs = [r for r in pro["direct"] if r["batch"] == batch]
        label = "default" if batch == 50 else "reference"
        lines.append(
            f"   JobStore.promote, schedule_batch_size {batch} ({label}):"
            f" {_spread([r['seconds'] * 1000 for r in runs], '.1f')};"
            f" {runs[-1]['script_calls']} script calls in"
            f" {runs[-1]['promote_calls']} promote() call(s);"
            f" Redis busy {statistics.median(r['redis_seconds'] * 1000 for r in runs):.1f} ms;"
            f" {_problems(runs)}"
        )
    after = [w["all_moved_after"] for w in pro["worker"] if w["all_moved_after"] is not None]
    first = [w["first_moved_after"] for w in pro["worker"] if w["first_moved_after"] is not None]
    lines.append(
        "   running worker's poll loop (1 worker, poll 0.5 s), from the moment all fall due"
        f" (spread {max(w['due_spread_ms'] for w in pro['worker']):.0f} ms):"
        f" all promoted after {_spread([a * 1000 for a in after], '.0f')} ms,"
        f" first after {_spread([f * 1000 for f in first], '.0f')} ms; the pass itself"
        f" {statistics.median((a - f) * 1000 for a, f in zip(after, first, strict=False)):.0f} ms"
        + ("; LEAD OVERRUN" if any(w["lead_overrun"] for w in pro["worker"]) else "")
        + ("" if len(after) == len(pro["worker"]) else "; NOT ALL PROMOTED WITHIN 30 s")
    )
    lines.append(
        f"3. throughput, {args.jobs} jobs of {SLEEP * 1000:g} ms per variant, {args.rounds} rounds,"
        " --concurrency 1 per worker process"
        " (jobs/s from first enqueue to last finish; busy: from first start)"
    )
    by_workers = {n: [r for r in thr if r["workers"] == n] for n in WORKER_COUNTS}
    for n, runs in by_workers.items():
        lines.append(
            f"   {n} worker(s): {_spread([r['jobs_per_s'] for r in runs], '.1f')} jobs/s;"
            f" busy {statistics.median(r['busy_jobs_per_s'] for r in runs):.1f} jobs/s;"
            f" first job started {statistics.median(r['first_start_ms'] for r in runs):.0f} ms"
            f" after enqueue; claim->success {statistics.median(r['run_ms'] for r in runs):.1f} ms,"
            f" success->next claim {statistics.median(r['gap_ms'] for r in runs):.1f} ms;"
            f" worker CPU {statistics.median(r['cpu_ms_per_job'] for r in runs):.2f} ms/job;"
            f" jobs per process (last round) {runs[-1]['per_process']}"
        )
    ratios = [
        four["jobs_per_s"] / one["jobs_per_s"]
        for one, four in zip(by_workers[1], by_workers[4], strict=True)
    ]
    busy = [
        four["busy_jobs_per_s"] / one["busy_jobs_per_s"]
        for one, four in zip(by_workers[1], by_workers[4], strict=True)
    ]
    ratio = statistics.median(ratios)
    lines.append(
        f"   4 workers : 1 worker = {ratio:.2f}x [{min(ratios):.2f} .. {max(ratios):.2f}]"
        f" (busy span {statistics.median(busy):.2f}x); target >= {TARGET_SCALE}x:"
        f" {_verdict(ratio, TARGET_SCALE)}"
    )
    lines.append(
        f"   exactly once: {_problems(thr)}"
        f" ({len(thr)} variants x {args.jobs} jobs: one handler run each, status succeeded,"
        " attempt 1, no dead letters)"
    )
    lines.append(
        "   distinct context.message.message_id seen by the jobs of one variant:"
        f" {sorted({r['distinct_message_ids'] for r in thr})} (jobs were enqueued from one"
        " handler context)"
    )
    return "\n".join(lines)


def _problems(runs: list[dict[str, Any]]) -> str:
    problems = [p for r in runs for p in r["problems"]]
    return "all checks passed" if not problems else "PROBLEMS: " + "; ".join(problems[:5])


# ------------------------------------------------------------------------------ main


def main() -> None:
    """Run the benchmark and print the figures."""
    if len(sys.argv) > 1 and sys.argv[1] == "--inside":
        inside(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every comparison")
    parser.add_argument("--enqueue", type=int, default=5000, help="enqueue calls per variant")
    parser.add_argument("--enqueue-rounds", type=int, default=5, help="rounds of part 1")
    parser.add_argument("--promote", type=int, default=10_000, help="delayed jobs to promote")
    parser.add_argument("--jobs", type=int, default=400, help="jobs per throughput variant")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    print("$ " + shlex.join([sys.executable, *sys.argv]), flush=True)

    sys.path.insert(0, str(ROOT / "tests"))
    import redis  # noqa: PLC0415  (a test dependency of purista)
    from support import Processes, Project, private_redis, project_venv, purista  # noqa: PLC0415

    tmp = Path(tempfile.mkdtemp(prefix="purista-jobbench-"))
    procs = Processes()
    started = time.monotonic()
    try:
        made = purista("new", PACKAGE, "--spec", str(SPEC), "--output", str(tmp))
        if made.returncode:
            raise SystemExit(f"purista new failed:\n{made.stdout}\n{made.stderr}")
        root = tmp / PACKAGE
        sys.path.insert(0, str(root / "src"))  # the project's runtime names its Redis keys
        Project(root, Path(), PACKAGE).handler(f"{SERVICE}/v1/queues/{QUEUE}.py", HANDLER)
        venv = project_venv(root)
        print(f"project {root}, venv {venv} ({time.monotonic() - started:.0f} s)", flush=True)
        (tmp / "logs").mkdir()
        with private_redis(tmp) as url:
            client = redis.Redis.from_url(url)
            b = Bench(root, str(venv / "bin" / "python"), url, tmp / "logs", client, procs)
            env = {
                **b.inside("versions"),
                "redis": client.info("server")["redis_version"],
                "python": platform.python_version(),
                "platform": platform.platform(terse=True),
                "cpus": os.cpu_count(),
            }
            print(f"redis-server at {url}", flush=True)
            figures: dict[str, Any] = {}
            print("1. enqueue ...", flush=True)
            figures["enqueue"] = part_enqueue(b, args.enqueue_rounds, args.enqueue)
            rate = statistics.median(figures["enqueue"]["rates"]["bridge"])
            print(f"2. promote ... ({time.monotonic() - started:.0f} s)", flush=True)
            figures["promote"] = part_promote(b, args.rounds, args.promote, rate)
            print(f"3. throughput ... ({time.monotonic() - started:.0f} s)", flush=True)
            figures["throughput"] = part_throughput(b, args.rounds, args.jobs)
            print(f"done in {time.monotonic() - started:.0f} s\n", flush=True)
            print(report(args, env, figures))
    finally:
        procs.stop_all()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
