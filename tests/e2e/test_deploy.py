"""Running as deployed: `dev`, health files, and database pools counted by PostgreSQL itself.

The PostgreSQL tests need a server on 127.0.0.1:5432 that trusts the user
`postgres` (database `postgres`), as .ci/run provides.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from support import (
    ROOT,
    Processes,
    Project,
    free_port,
    project_venv,
    purista,
    redis_server,
    wait_for,
)

pytestmark = pytest.mark.e2e

SCALED = ROOT / "tests" / "specs" / "scaled.yaml"
DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

REPORT_POSITION = """
from fleet_tracker.services.ingest.v1._generated.context import ReportPositionContext
from fleet_tracker.services.ingest.v1._generated.models import (
    ReportPositionOutput,
    ReportPositionPayload,
)


def handle(context: ReportPositionContext, payload: ReportPositionPayload) -> ReportPositionOutput:
    with context.resources.db.connection() as conn:
        row = conn.execute("select %s::text", (payload.vehicle_id,)).fetchone()
    assert row is not None
    return ReportPositionOutput(vehicle_id=row[0])
"""


def postgres_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=2):
            return True
    except OSError:
        return False


needs_postgres = pytest.mark.skipif(
    not postgres_up() and not os.environ.get("CI"), reason="no PostgreSQL on 127.0.0.1:5432"
)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The autoscaled, prefork spec generated once and installed (psycopg included)."""
    base = tmp_path_factory.mktemp("fleet")
    result = purista("new", "fleet", "--spec", str(SCALED), "--output", str(base))
    assert result.returncode == 0, result.stderr
    root = base / "fleet"
    return Project(root, project_venv(root), "fleet_tracker")


@pytest.fixture(scope="module")
def plan() -> dict[str, dict[str, object]]:
    result = purista("plan", "--spec", str(SCALED), "--json")
    assert result.returncode == 0, result.stderr
    return {s["name"]: s for s in json.loads(result.stdout)["workers"]}


def connections(project: Project, application_name: str) -> int:
    """How many connections PostgreSQL has open under `application_name`."""
    query = (
        "import psycopg, sys\n"
        f"with psycopg.connect({DATABASE_URL!r}, autocommit=True) as c:\n"
        "    n = c.execute('select count(*) from pg_stat_activity where application_name = %s',"
        " (sys.argv[1],)).fetchone()[0]\n"
        "print(n)\n"
    )
    result = subprocess.run(
        [project.python, "-c", query, application_name],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return int(result.stdout)


def client_pids(port: int = 5432) -> dict[int, int]:
    """Connections to a local server's `port` by client process id, as `ss` sees them."""
    out = subprocess.run(
        ["ss", "-Htnp", "state", "established", "dst", f"127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    counts: dict[int, int] = {}
    for pid in re.findall(r"pid=(\d+)", out):
        counts[int(pid)] = counts.get(int(pid), 0) + 1
    return counts


def children(pid: int) -> set[int]:
    found = set()
    for line in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        found.add(int(line))
    return found


@needs_postgres
def test_prefork_children_each_open_the_planned_pool(
    fleet: Project,
    plan: dict[str, dict[str, object]],
    redis_url: str,
    processes: Processes,
    tmp_path: Path,
) -> None:
    fleet.handler("ingest/v1/commands/report_position.py", REPORT_POSITION)
    name = f"purista-test-{uuid.uuid4().hex[:8]}"
    env = fleet.env(redis_url, DATABASE_URL=DATABASE_URL, PGAPPNAME=name)
    ingest = plan["ingest"]
    expected = ingest["db_connections_per_instance"]
    assert (ingest["pool"], ingest["processes_per_instance"], expected) == ("prefork", 8, 8)

    worker = processes.start(
        [fleet.python, "-m", "fleet_tracker", "worker", "ingest"],
        cwd=fleet.root,
        env=env,
        log=tmp_path / "ingest.log",
    )
    assert wait_for(lambda: connections(fleet, name) == expected, 60), (
        f"{connections(fleet, name)} connections, planned {expected}:\n"
        + (tmp_path / "ingest.log").read_text()
    )
    time.sleep(2)  # and no more than planned once every pool has settled
    assert connections(fleet, name) == expected
    # One connection in each child, none in the main process.
    pids = client_pids()
    forked = children(worker.pid)
    assert len(forked) == ingest["processes_per_instance"]
    assert {pid: pids.get(pid, 0) for pid in forked} == dict.fromkeys(
        forked, ingest["db_pool_per_process"]
    )
    assert pids.get(worker.pid, 0) == 0

    result = fleet.run(
        "invoke", "ingest.v1.reportPosition", '{"vehicleId": "v7", "lat": 1, "lon": 2}', env=env
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"vehicleId": "v7"}

    processes.stop(worker)
    assert wait_for(lambda: connections(fleet, name) == 0, 30)


LOADED_POSITION = """
import time


def handle(context, payload):
    with context.resources.db.connection() as conn:
        conn.execute("select 1")
    context.states.set_state(payload.vehicle_id, payload.lat)
    time.sleep(0.3)
    return {"vehicleId": payload.vehicle_id}
"""

LOADED_ALERT = """
import time


def handle(context, event):
    context.states.set_state("last", event.vehicle_id)
    time.sleep(0.3)
"""


@needs_postgres
def test_redis_connections_under_load_stay_within_the_plan(
    fleet: Project,
    plan: dict[str, dict[str, object]],
    redis_url: str,
    processes: Processes,
    tmp_path: Path,
) -> None:
    """Busy workers never hold more Redis connections than `purista plan` counts for them."""
    fleet.handler("ingest/v1/commands/report_position.py", LOADED_POSITION)
    fleet.handler("notification_service/v1/subscriptions/alert_dispatch.py", LOADED_ALERT)
    env = fleet.env(redis_url, DATABASE_URL=DATABASE_URL)
    port = urlsplit(redis_url).port
    workers = {}
    for service in ("ingest", "notification-service"):
        workers[service] = processes.start(
            [fleet.python, "-m", "fleet_tracker", "worker", service],
            cwd=fleet.root,
            env=env,
            log=tmp_path / f"{service}.log",
        )
    payload = '{"vehicleId": "v0", "lat": 1, "lon": 2}'
    assert wait_for(
        lambda: fleet.run("invoke", "ingest.v1.reportPosition", payload, env=env).returncode == 0,
        60,
    )
    invokes = [
        subprocess.Popen(
            [
                fleet.python,
                "-m",
                "fleet_tracker",
                "invoke",
                "ingest.v1.reportPosition",
                payload.replace("v0", f"v{i}"),
            ],
            cwd=fleet.root,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(24)
    ]
    most: dict[int, int] = {}
    while any(p.poll() is None for p in invokes):
        for pid, n in client_pids(port).items():
            most[pid] = max(most.get(pid, 0), n)
        time.sleep(0.05)
    assert all(p.returncode == 0 for p in invokes)
    for service, worker in workers.items():
        row = plan[service]
        forked = children(worker.pid) if row["pool"] == "prefork" else set()
        assert most.get(worker.pid, 0) <= (
            row["redis_connections_consumer"] if forked else row["redis_connections_per_instance"]
        ), (service, most)
        for child in forked:
            assert most.get(child, 0) <= row["redis_connections_per_process"], (service, most)
        used = sum(most.get(pid, 0) for pid in {worker.pid} | forked)
        assert 0 < used <= row["redis_connections_per_instance"], (service, used)
    assert sum(most.get(c, 0) for c in children(workers["ingest"].pid)) > 8  # the load reached them


@needs_postgres
def test_threads_job_worker_opens_one_pool_of_its_concurrency(
    fleet: Project,
    plan: dict[str, dict[str, object]],
    redis_url: str,
    processes: Processes,
    tmp_path: Path,
) -> None:
    name = f"purista-test-{uuid.uuid4().hex[:8]}"
    env = fleet.env(redis_url, DATABASE_URL=DATABASE_URL, PGAPPNAME=name)
    render = plan["renderReport"]
    expected = render["db_connections_per_instance"]
    assert (render["db_pool_per_process"], expected) == (3, 3)
    worker = processes.start(
        [fleet.python, "-m", "fleet_tracker", "worker", "--queue", "renderReport"],
        cwd=fleet.root,
        env=env,
        log=tmp_path / "jobs.log",
    )
    assert wait_for(lambda: connections(fleet, name) == expected, 60)
    assert client_pids().get(worker.pid) == expected
    processes.stop(worker)
    assert wait_for(lambda: connections(fleet, name) == 0, 30)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; only its parent has not collected it yet.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


@needs_postgres
def test_dev_runs_every_worker_and_stops_them_all_on_ctrl_c(
    fleet: Project, redis_url: str, processes: Processes, tmp_path: Path
) -> None:
    fleet.handler("ingest/v1/commands/report_position.py", REPORT_POSITION)
    env = fleet.env(redis_url, DATABASE_URL=DATABASE_URL)
    log = tmp_path / "dev.log"
    dev = processes.start(
        [fleet.python, "-m", "fleet_tracker", "dev"], cwd=fleet.root, env=env, log=log
    )
    workers = ["fleet-tracker-ingest-v1", "fleet-tracker-notification-service-v1",
               "fleet-tracker-reports-v1", "fleet-tracker-render-report-jobs"]  # fmt: skip
    assert wait_for(lambda: "every worker started" in log.read_text(), 30), log.read_text()
    started = dict(re.findall(r"dev: started (\S+) \(pid (\d+)\)", log.read_text()))
    assert sorted(started) == sorted(workers)
    pids = {int(pid) for pid in started.values()}

    result = fleet.run(
        "invoke", "ingest.v1.reportPosition", '{"vehicleId": "v1", "lat": 0, "lon": 0}', env=env
    )
    assert result.returncode == 0, result.stderr + log.read_text()
    assert json.loads(result.stdout) == {"vehicleId": "v1"}
    grandchildren = set().union(*(children(pid) for pid in pids))
    assert len(grandchildren) >= 8 + 2  # the prefork children of ingest and reports

    os.killpg(dev.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
    assert dev.wait(120) == 0, log.read_text()
    text = log.read_text()
    for worker in workers:
        assert f"dev: {worker} stopped" in text
    assert "did not stop" not in text
    assert not [pid for pid in pids | grandchildren if alive(pid)]


def start_redis(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    proc = redis_server(port, workdir)
    assert wait_for(lambda: socket.create_connection(("127.0.0.1", port), timeout=1), 10)
    return proc


def probe(project: Project, kind: str, env: dict[str, str]) -> int:
    return subprocess.run(
        [project.python, "-m", f"{project.package}._purista.health", kind, "--max-age", "3"],
        env={**os.environ, **env},
        capture_output=True,
        timeout=30,
        check=False,
    ).returncode


def test_health_files_follow_the_worker_not_the_broker(
    installed: dict[str, Project], processes: Processes, tmp_path: Path
) -> None:
    """Live while Redis is away (reconnecting is not a reason to restart), not ready then."""
    project = installed["minimal"]
    port = free_port()
    redis = start_redis(port, tmp_path)
    env = project.env(
        f"redis://127.0.0.1:{port}/0",
        PURISTA_HEALTH_DIR=str(tmp_path / "health"),
        PURISTA_HEARTBEAT_INTERVAL="1",
    )
    assert probe(project, "live", env) == 1  # nothing running yet
    worker = processes.start(
        [project.python, "-m", "hello", "worker", "greeter"],
        cwd=project.root,
        env=env,
        log=tmp_path / "worker.log",
    )
    try:
        assert wait_for(lambda: probe(project, "ready", env) == 0, 60)
        assert probe(project, "live", env) == 0

        redis.terminate()
        redis.wait(10)
        assert wait_for(lambda: probe(project, "ready", env) == 1, 20)
        for _ in range(6):  # beyond --max-age 3 without Redis: still live
            time.sleep(1)
            assert probe(project, "live", env) == 0, (tmp_path / "worker.log").read_text()

        redis = start_redis(port, tmp_path)
        assert wait_for(lambda: probe(project, "ready", env) == 0, 60)

        processes.stop(worker)
        assert probe(project, "ready", env) == 1
    finally:
        redis.terminate()
        redis.wait(10)
