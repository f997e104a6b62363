"""Benchmark the generated bridge's emit and invoke against plain Celery (on demand; not a test).

    .venv/bin/python benchmarks/events_invoke.py [--rounds 30] [--emit-block 100]
        [--invoke-block 40] [--traced] [--keep]

Generates a project (`benchev`) whose `pub` service has a command `ping`, whose
`caller` service may invoke it, and whose `fan` service subscribes to `tick1`,
`tick3` and `tick10` with 1, 3 and 10 subscriptions. On a private redis-server,
with the project's own workers (`python -m benchev worker pub|fan`):

(a) publisher side of an event: `CeleryBridge.emit` to 1, 3 and 10 subscriptions
    (and `context.emit.tick10` through a generated context, payload validation
    included), against one plain Celery `send_task` to a subscription queue on the
    same Redis, both as most code writes it and fire-and-forget
    (`ignore_result=True`, which is what emit does). A delivery check first shows
    every subscription gets its event; then the `fan` worker is stopped and the
    queues are emptied between rounds, so only the publisher is measured.
(b) invoke round trip through the generated bridge, called in-process
    (`CeleryBridge.invoke`, and `context.invoke.pub.v1.ping` through a generated
    context), against a raw `send_task(...).get()` to the same `pub` worker.

Tracing is off (`OTEL_TRACES_EXPORTER=none`: the bridge's spans are no-ops) unless
`--traced`: then the measuring process and the workers set up OpenTelemetry with
the console exporter (to /dev/null), and Celery is instrumented for both sides.

The variants are interleaved: every round runs a block of each, in a new random
order, because the machine is shared and noisy. Ratios are taken per round
(paired) and their median reported. Targets: emit <= 1.2x one send_task per
subscriber; invoke p50 and p99 <= 1.15x the raw round trip.
The last block of output is meant to be pasted into a report.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support import Processes, Project, private_redis, project_venv, purista, wait_for  # noqa: E402

EMIT_TARGET = 1.2
INVOKE_TARGET = 1.15
FANOUT = (1, 3, 10)


def build_spec() -> dict[str, Any]:
    """The spec: a command, its caller, and events with 1, 3 and 10 subscriptions."""
    number = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    subscriptions = {
        f"on{count}x{i}": {"event": f"tick{count}"} for count in FANOUT for i in range(count)
    }
    threads = {"replicas": 1, "concurrency": 4, "pool": "threads"}
    return {
        "spec_version": 1,
        "project": {"name": "benchev", "description": "Events and invokes benchmark"},
        "events": {f"tick{count}": {"payload": number} for count in FANOUT},
        "services": {
            "pub": {
                "version": 1,
                "deployment": threads,
                "commands": {
                    "ping": {"payload": number, "output": number},
                    "fire": {
                        "payload": number,
                        "output": number,
                        "can_emit": [f"tick{count}" for count in FANOUT],
                    },
                },
            },
            "caller": {
                "version": 1,
                "deployment": threads,
                "commands": {
                    "call": {"payload": number, "output": number, "can_invoke": ["pub.v1.ping"]}
                },
            },
            "fan": {"version": 1, "deployment": threads, "subscriptions": subscriptions},
        },
    }


PING = """
from typing import Any


def handle(context: Any, payload: Any) -> dict[str, int]:
    return {"n": payload.n}
"""

# Each subscription counts what it receives, under the benchmark's own key.
COUNT = """
import os
from typing import Any

import redis

client = redis.Redis.from_url(os.environ["REDIS_URL"])


def handle(context: Any, event: Any) -> None:
    client.incr("bench:seen:" + __name__.rsplit(".", 1)[-1])
"""

# Runs in the project's venv: emits one event of each kind, for the delivery check.
DELIVER = """
from benchev._purista.app import get_bridge
from benchev._purista.context import Message

bridge = get_bridge()
for event in ("tick1", "tick3", "tick10"):
    bridge.emit(event, {"n": 1}, Message.first())
"""

# Runs in the project's venv: the interleaved measurements, printed as JSON.
MEASURE = """
import json, random, sys, time

import celery, kombu, redis
from celery import Celery

from benchev._purista.app import get_bridge
from benchev._purista.context import Message
from benchev._purista.project import COMMANDS, EVENT_ROUTES
from benchev.services.pub.v1._generated.models import PingOutput
from benchev.testing import context_for

url, rounds, emit_block, invoke_block, out, traced = sys.argv[1:7]
rounds, emit_block, invoke_block = int(rounds), int(emit_block), int(invoke_block)
if traced == "yes":
    from benchev._purista import telemetry

    telemetry.setup("bench")
bridge = get_bridge()
plain = Celery("plain", broker=url, backend=url, set_as_current=False)
plain.conf.update(
    task_serializer="json", result_serializer="json",
    accept_content=["json"], result_accept_content=["json"],
)
client = redis.Redis.from_url(url)
payload = {"n": 1}
message = Message.first()
route = EVENT_ROUTES["tick1"][0]
ping = COMMANDS["pub.v1.ping"]
fire = context_for("pub.v1.fire", bridge=bridge)
caller = context_for("caller.v1.call", bridge=bridge)
queues = sorted({r.queue for routes in EVENT_ROUTES.values() for r in routes})

emits = {
    "send_task": lambda: plain.send_task(
        route.task, kwargs={"payload": payload}, queue=route.queue
    ),
    "send_task_ff": lambda: plain.send_task(
        route.task, kwargs={"payload": payload}, queue=route.queue, ignore_result=True
    ),
    "emit1": lambda: bridge.emit("tick1", payload, message),
    "emit3": lambda: bridge.emit("tick3", payload, message),
    "emit10": lambda: bridge.emit("tick10", payload, message),
    "context_emit10": lambda: fire.emit.tick10(payload),
}
invokes = {
    "raw": lambda: plain.send_task(ping.task, kwargs={"payload": payload}, queue=ping.queue).get(
        timeout=30
    ),
    "bridge": lambda: bridge.invoke(ping, payload, PingOutput, message),
    "context": lambda: caller.invoke.pub.v1.ping(payload),
}
assert invokes["raw"]() == {"n": 1} and invokes["bridge"]().n == 1

blocks = {name: [] for name in emits}
latencies = {name: [] for name in invokes}
clock = time.perf_counter
for number in range(rounds + 1):  # round 0 warms up and is dropped
    work = [("emit", name) for name in emits] + [("invoke", name) for name in invokes]
    random.shuffle(work)
    for kind, name in work:
        if kind == "emit":
            op = emits[name]
            start = clock()
            for _ in range(emit_block):
                op()
            if number:
                blocks[name].append((clock() - start) / emit_block)
        else:
            op, took = invokes[name], []
            for _ in range(invoke_block):
                start = clock()
                op()
                took.append(clock() - start)
            if number:
                latencies[name].append(took)
    client.delete(*queues)
open(out, "w").write(json.dumps({
    "blocks": blocks,
    "latencies": latencies,
    "versions": {
        "celery": celery.__version__, "kombu": kombu.__version__, "redis-py": redis.__version__
    },
}))
"""


def median(values: list[float]) -> float:
    """The median of `values`."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: list[float], p: float) -> float:
    """The `p`-th percentile of `values` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def make_project(work: Path) -> Project:
    """Generate the benchmark project, install it, and write its handlers."""
    spec = work / "purista.yaml"
    spec.write_text(json.dumps(build_spec(), indent=2))  # JSON is YAML
    result = purista("new", "benchev", "--spec", str(spec), "--output", str(work))
    if result.returncode:
        sys.exit(f"purista new failed:\n{result.stderr}")
    root = work / "benchev"
    project = Project(root, project_venv(root), "benchev")
    project.handler("pub/v1/commands/ping.py", PING.lstrip())
    for count in FANOUT:
        for i in range(count):
            project.handler(f"fan/v1/subscriptions/on{count}x{i}.py", COUNT.lstrip())
    return project


def start_worker(
    project: Project, processes: Processes, env: dict[str, str], service: str, work: Path
) -> Any:
    """Start `python -m benchev worker <service>`, logging warnings only (no line per task)."""
    return processes.start(
        [project.python, "-m", "benchev", "worker", service, "--loglevel", "WARNING"],
        cwd=project.root,
        env=env,
        log=work / f"{service}.log",
    )


def wait_pub(project: Project, env: dict[str, str], work: Path) -> None:
    """Wait until the `pub` worker answers an invoke."""
    answered = wait_for(
        lambda: (
            project.run("invoke", "pub.v1.ping", '{"n": 1}', env=env, timeout=30).returncode == 0
        ),
        120,
    )
    if not answered:
        sys.exit(f"worker pub does not answer:\n{(work / 'pub.log').read_text()[-3000:]}")


def check_delivery(project: Project, env: dict[str, str], url: str) -> None:
    """Emit one event of each kind; every subscription must count exactly one."""
    child = subprocess.run(
        [project.python, "-c", DELIVER],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if child.returncode:
        sys.exit(f"delivery check failed:\n{child.stderr}")
    client = redis.Redis.from_url(url)
    keys = [f"bench:seen:on{count}x{i}" for count in FANOUT for i in range(count)]
    if not wait_for(lambda: [client.get(key) for key in keys] == [b"1"] * len(keys), 120):
        sys.exit(f"delivery check failed: {[client.get(key) for key in keys]}")
    print(f"delivery check: each of {len(keys)} subscriptions got its event once")


def measure(
    project: Project, env: dict[str, str], url: str, args: argparse.Namespace, work: Path
) -> Any:
    """Run the interleaved measurements in the project's venv."""
    out = work / "figures.json"
    child = subprocess.run(
        [
            project.python,
            "-c",
            MEASURE,
            url,
            str(args.rounds),
            str(args.emit_block),
            str(args.invoke_block),
            str(out),
            "yes" if args.traced else "no",
        ],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,  # the console span exporter's, when traced
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    if child.returncode:
        sys.exit(f"measurement failed:\n{child.stderr}")
    return json.loads(out.read_text())


def report(data: dict[str, Any], args: argparse.Namespace, facts: dict[str, str]) -> bool:
    """Print the block of figures; True when every target is met."""
    us = 1e6
    blocks: dict[str, list[float]] = data["blocks"]
    rounds = len(blocks["send_task"])
    lines = ["", "=== events_invoke benchmark ==="]
    lines += [f"{key}: {value}" for key, value in facts.items()]
    lines.append(
        f"rounds: {rounds} (+1 warm-up), emit block {args.emit_block}, "
        f"invoke block {args.invoke_block}; interleaved in random order per round"
    )
    lines.append("")
    lines.append("(a) publisher side, mean per call, median over rounds [min]")
    for name, values in blocks.items():
        lines.append(f"  {name:<16} {median(values) * us:8.1f} us  [{min(values) * us:7.1f}]")
    ok = True
    lines.append("  per-subscriber ratio = emitN / (N x send_task), median of per-round ratios")
    for baseline in ("send_task_ff", "send_task"):
        cells = []
        for count in FANOUT:
            ratios = [
                emit / (count * base)
                for emit, base in zip(blocks[f"emit{count}"], blocks[baseline], strict=True)
            ]
            ratio = median(ratios)
            if baseline == "send_task_ff":
                ok &= ratio <= EMIT_TARGET
            cells.append(f"{count:>2} subs {ratio:5.2f}x")
        context = median(
            [
                emit / (10 * base)
                for emit, base in zip(blocks["context_emit10"], blocks[baseline], strict=True)
            ]
        )
        cells.append(f"context 10 subs {context:5.2f}x")
        lines.append(f"  vs {baseline:<13} " + "  ".join(cells))
    lines.append(f"  target <= {EMIT_TARGET}x per subscriber (against send_task_ff)")

    lines.append("")
    lines.append("(b) invoke round trip to the same worker")
    latencies: dict[str, list[list[float]]] = data["latencies"]
    pooled = {name: [t for block in blocks_ for t in block] for name, blocks_ in latencies.items()}
    for name, values in pooled.items():
        lines.append(
            f"  {name:<8} p50 {percentile(values, 50) * us:8.1f} us   "
            f"p99 {percentile(values, 99) * us:8.1f} us   n={len(values)}"
        )
    for name in ("bridge", "context"):
        p50 = percentile(pooled[name], 50) / percentile(pooled["raw"], 50)
        p99 = percentile(pooled[name], 99) / percentile(pooled["raw"], 99)
        paired = median(
            [
                percentile(mine, 50) / percentile(raw, 50)
                for mine, raw in zip(latencies[name], latencies["raw"], strict=True)
            ]
        )
        if name == "bridge":
            ok &= p50 <= INVOKE_TARGET and p99 <= INVOKE_TARGET
        lines.append(
            f"  {name}/raw  p50 {p50:5.2f}x   p99 {p99:5.2f}x   per-round p50 median {paired:5.2f}x"
        )
    lines.append(f"  target <= {INVOKE_TARGET}x at p50 and p99 (bridge)")
    lines.append("")
    lines.append(f"verdict: {'all targets met' if ok else 'a target was missed'}")
    print("\n".join(lines))
    return ok


def main() -> None:
    """Parse the options, set everything up, measure, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="measured rounds (default 30)")
    parser.add_argument("--emit-block", type=int, default=100, help="emits per block (100)")
    parser.add_argument("--invoke-block", type=int, default=40, help="invokes per block (40)")
    parser.add_argument("--traced", action="store_true", help="with OpenTelemetry set up")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args()
    if min(args.rounds, args.emit_block, args.invoke_block) < 1:
        parser.error("--rounds, --emit-block and --invoke-block must be at least 1")
    print(f"$ {shlex.join([sys.executable, *sys.argv])}", flush=True)

    work = Path(tempfile.mkdtemp(prefix="purista-bench-events-"))
    processes = Processes()
    try:
        project = make_project(work)
        with private_redis(work) as url:
            exporter = "console" if args.traced else "none"
            env = project.env(url, OTEL_TRACES_EXPORTER=exporter, OTEL_METRICS_EXPORTER="none")
            try:
                start_worker(project, processes, env, "pub", work)
                fan = start_worker(project, processes, env, "fan", work)
                wait_pub(project, env, work)
                check_delivery(project, env, url)
                processes.stop(fan)  # from here on only the publisher side is measured
                load = os.getloadavg()
                data = measure(project, env, url, args, work)
            finally:
                processes.stop_all()
            server = subprocess.run(
                ["redis-server", "--version"], capture_output=True, text=True, check=False
            ).stdout.split()
            facts = {
                "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
                f"load {load[0]:.2f} before / {os.getloadavg()[0]:.2f} after",
                "python": platform.python_version(),
                "versions": ", ".join(f"{k} {v}" for k, v in data["versions"].items())
                + f", redis-server {server[2].removeprefix('v=') if len(server) > 2 else '?'}",
                "workers": "pub: threads x4 (invokes); fan: stopped after the delivery check",
                "tracing": "on (console exporter to /dev/null)" if args.traced else "off",
            }
            ok = report(data, args, facts)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
