"""Benchmark the HTTP gateway against a direct invoke from Python (on demand; not a test).

    .venv/bin/python benchmarks/gateway.py [--rounds 10] [--block 200] [--threads 8]

Generates the project of tests/specs/gateway.yaml with an echo handler, starts a
private redis-server, the `front` worker and the gateway (uvicorn, one process),
then measures in one run, in interleaved blocks (the machine is shared and noisy):

- direct: `CeleryBridge.invoke` of `front.v1.echo` from Python, the payload
  validated by its model first, as `python -m <package> invoke` does;
- gateway: `POST /echo` through the gateway, on a keep-alive connection of the
  standard library's `http.client` (a lean client, so what is measured is the gateway);
- healthz: `GET /healthz`, what HTTP and uvicorn cost alone, for reference.

Each variant runs one caller (latency: p50 and p99 per call) and then `--threads`
callers at once (throughput: calls per second). The target: the gateway adds at most
1 ms at p50. It also reports the CPU each call costs the process doing the work
(this process for a direct invoke, the gateway's for a request): on a busy machine
the p50 difference is mostly the extra process hop waiting for a CPU, while the
CPU figures show what the gateway's own work costs. Tracing is off. The last block
of output is meant for a report.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support import (  # noqa: E402
    Processes,
    Project,
    free_port,
    private_redis,
    project_venv,
    purista,
    wait_for,
)

ECHO = """
def handle(context, payload):
    return {"text": payload.text, "principal": context.message.principal_id}
"""

DRIVER = r"""
import http.client, json, os, statistics, sys, threading, time
from typing import Any
from urllib.parse import urlsplit
from pydantic import RootModel

from gw._purista import wire
from gw._purista.app import get_bridge
from gw._purista.context import Message
from gw._purista.project import COMMANDS
from gw._purista.runner import service_bindings

url, rounds, block, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
gateway_pid = int(sys.argv[5])


def gateway_cpu() -> float:
    fields = open(f"/proc/{gateway_pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

target = COMMANDS["front.v1.echo"]
model = next(b for b in service_bindings("front.v1") if b.task == "front.v1.echo").payload
bridge = get_bridge()
payload = {"text": "hello"}
local = threading.local()


def direct() -> None:
    data = wire.to_wire(model, payload, "payload")
    bridge.invoke(target, data, RootModel[Any], Message.first())


where = urlsplit(url)
body = json.dumps(payload)
headers = {"content-type": "application/json"}


def _request(method: str, path: str, data: str | None, again: bool = True) -> None:
    connection = getattr(local, "connection", None)
    if connection is None:
        connection = local.connection = http.client.HTTPConnection(where.hostname, where.port)
    try:
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        response.read()
    except (OSError, http.client.HTTPException):
        connection.close()  # the server closed an idle keep-alive connection: open another
        local.connection = None
        if not again:
            raise
        return _request(method, path, data, again=False)
    assert response.status == 200, response.status


def gateway() -> None:
    _request("POST", "/echo", body)


def healthz() -> None:
    _request("GET", "/healthz", None)


def latencies(call, n):
    out = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        out.append(time.perf_counter() - started)
    return out


def throughput(call, n, threads):
    def run():
        for _ in range(n):
            call()

    workers = [threading.Thread(target=run) for _ in range(threads)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return n * threads / (time.perf_counter() - started)


variants = {"direct": direct, "gateway": gateway, "healthz": healthz}
for call in variants.values():  # warm up: connections, imports, the worker
    latencies(call, 50)
lat = {name: [] for name in variants}
rates = {name: [] for name in variants}
# CPU per call of the process doing the work: this one for a direct invoke, the gateway's
# for a request (its HTTP handling, validation and the same invoke).
cpu = {name: 0.0 for name in variants}
for round_ in range(rounds):
    order = list(variants) if round_ % 2 == 0 else list(reversed(variants))
    for name in order:
        read = time.process_time if name == "direct" else gateway_cpu
        before = read()
        lat[name] += latencies(variants[name], block)
        cpu[name] += read() - before
        rates[name].append(throughput(variants[name], block // threads or 1, threads))


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


figures = {
    name: {
        "calls": len(lat[name]),
        "p50_ms": pct(lat[name], 0.50),
        "p99_ms": pct(lat[name], 0.99),
        "sequential_per_s": len(lat[name]) / sum(lat[name]),
        "parallel_per_s": statistics.median(rates[name]),
        "cpu_ms_per_call": cpu[name] / len(lat[name]) * 1000,
    }
    for name in variants
}
print(json.dumps(figures))
"""


def main() -> int:
    """Generate, start, measure and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--block", type=int, default=200)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        base = Path(tmp)
        spec = ROOT / "tests" / "specs" / "gateway.yaml"
        result = purista("new", "gw", "--spec", str(spec), "--output", str(base))
        if result.returncode:
            print(result.stderr, file=sys.stderr)
            return 1
        root = base / "gw"
        project = Project(root, project_venv(root), "gw")
        project.handler("front/v1/commands/echo.py", ECHO)
        procs = Processes()
        with private_redis(base) as redis_url:
            env = project.env(redis_url, OTEL_TRACES_EXPORTER="none", OTEL_METRICS_EXPORTER="none")
            try:
                procs.start(
                    [project.python, "-m", "gw", "worker", "front", "--pool", "threads",
                     "--concurrency", "16"],
                    cwd=root, env=env, log=base / "front.log",
                )  # fmt: skip
                port = free_port()
                gateway = procs.start(
                    [project.python, "-m", "gw", "gateway", "--port", str(port)],
                    cwd=root,
                    env=env,
                    log=base / "gateway.log",
                )
                url = f"http://127.0.0.1:{port}"
                probe = [project.python, "-c", f"import httpx; httpx.get('{url}/readyz')"]

                def up() -> bool:
                    return (
                        subprocess.run(probe, env=env, capture_output=True, check=False).returncode
                        == 0
                    )

                if not wait_for(up, 30):
                    print((base / "gateway.log").read_text(), file=sys.stderr)
                    return 1
                run = subprocess.run(
                    [project.python, "-c", DRIVER, url, str(args.rounds), str(args.block),
                     str(args.threads), str(gateway.pid)],
                    cwd=root, env={**env}, capture_output=True, text=True, check=False,
                )  # fmt: skip
            finally:
                procs.stop_all()
        if run.returncode:
            print(run.stdout, run.stderr, file=sys.stderr)
            return 1
        figures = json.loads(run.stdout.strip().splitlines()[-1])
    direct, gateway = figures["direct"], figures["gateway"]
    added = gateway["p50_ms"] - direct["p50_ms"]
    print(f"echo command, {direct['calls']} calls per variant, {args.threads} threads in parallel")
    print(
        f"{'':10} {'p50 ms':>8} {'p99 ms':>8} {'1 caller/s':>11} {args.threads} callers/s "
        f"{'CPU ms/call':>12}"
    )
    for name, row in figures.items():
        print(
            f"{name:10} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f} "
            f"{row['sequential_per_s']:11.0f} {row['parallel_per_s']:11.0f} "
            f"{row['cpu_ms_per_call']:12.3f}"
        )
    verdict = "within" if added <= 1.0 else "OVER"
    extra_cpu = gateway["cpu_ms_per_call"] - direct["cpu_ms_per_call"]
    print(f"the gateway adds {added:.2f} ms at p50 ({verdict} the 1 ms target)")
    print(f"and {extra_cpu:.3f} ms of CPU per call beyond the invoke itself")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
