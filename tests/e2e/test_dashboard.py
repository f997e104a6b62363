"""The generated dashboard against real data: a real `prometheus` (Debian's package) scrapes
real workers under load, and every panel's query returns series through its HTTP API."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from support import ROOT, Processes, Project, free_port, project_venv, purista, wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus not installed"),
    pytest.mark.skipif(
        subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"], check=False).returncode != 0
        if shutil.which("pg_isready")
        else True,
        reason="PostgreSQL not running on 127.0.0.1:5432",
    ),
]

HANDLERS = {
    "front/v1/commands/note.py": """
import random


def handle(context, payload):
    if random.random() < 0.2:
        raise ValueError("one note in five fails")
    with context.resources.db.connection() as conn:
        conn.execute("select 1")
    context.emit.noted({"n": payload.n})
    context.queue.enqueue.tidy({"n": payload.n})
    return {"n": payload.n}
""",
    "front/v1/queues/tidy.py": """
def handle(context, job):
    return None
""",
    "audit/v1/subscriptions/record.py": """
def handle(context, event):
    return None
""",
}
WORKERS = {"front": ["front"], "audit": ["audit"], "tidy": ["--queue", "tidy"]}


def query(port: int, expr: str) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as answer:
        return dict(json.loads(answer.read()))


def test_every_panel_of_the_dashboard_shows_data(
    tmp_path: Path, redis_url: str, processes: Processes
) -> None:
    result = purista(
        "new",
        "watched",
        "--spec",
        str(ROOT / "tests/specs/watched.yaml"),
        "--output",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    project = Project(tmp_path / "watched", project_venv(tmp_path / "watched"), "watched")
    for relative, code in HANDLERS.items():
        project.handler(relative, code)
    ports = {name: free_port() for name in WORKERS}
    for name, args in WORKERS.items():
        env = project.env(
            redis_url,
            DATABASE_URL="postgresql://postgres@127.0.0.1:5432/postgres",
            OTEL_METRICS_EXPORTER="prometheus",
            OTEL_EXPORTER_PROMETHEUS_PORT=str(ports[name]),
            OTEL_EXPORTER_PROMETHEUS_HOST="127.0.0.1",
            PURISTA_METRICS_INTERVAL="1",
        )
        processes.start(
            [project.python, "-m", "watched", "worker", *args],
            cwd=project.root,
            env=env,
            log=tmp_path / f"{name}.log",
        )
    prom_port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s"},
                "scrape_configs": [
                    {"job_name": name, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
                    for name, port in ports.items()
                ],
            }
        )
    )
    processes.start(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        cwd=tmp_path,
        env={},
        log=tmp_path / "prometheus.log",
    )
    up = "count(up == 1)"
    assert wait_for(
        lambda: query(prom_port, up)["data"]["result"][0]["value"][1] == "3", 60, 0.5
    ), (tmp_path / "front.log").read_text()[-3000:]
    env = project.env(redis_url, DATABASE_URL="postgresql://postgres@127.0.0.1:5432/postgres")
    bench = project.run(
        "bench",
        "front.v1.note",
        "--rate",
        "20",
        "--duration",
        "6",
        "--payload",
        '{"n": 1}',
        env=env,
        timeout=60,
    )
    assert bench.returncode in (0, 1), bench.stderr  # failures are part of the load
    board = json.loads((project.root / "observability/grafana/watched.json").read_text())
    exprs = {
        f"{p['title']} [{t['legendFormat']}]": t["expr"].replace("$__rate_interval", "30s")
        for p in board["panels"]
        if p["type"] != "row"
        for t in p["targets"]
    }
    assert len(exprs) > 20

    def empty() -> list[str]:
        return [
            name for name, expr in exprs.items() if not query(prom_port, expr)["data"]["result"]
        ]

    time.sleep(3)
    assert wait_for(lambda: not empty(), 20, 1), empty()
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter("watched*"):
        client.delete(key)
