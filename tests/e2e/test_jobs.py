"""Job queues and state stores end to end: real Redis, real worker processes, SIGKILL included."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from support import ROOT, Processes, Project, project_venv, purista, wait_for

pytestmark = pytest.mark.e2e

RECORD = """
import json as _json
import os as _os
import time as _time

import redis as _redis

_client = _redis.Redis.from_url(_os.environ["REDIS_URL"])


def record(name, **fields):
    fields.update(at=_time.time(), pid=_os.getpid())
    _client.rpush("test:" + name, _json.dumps(fields))
"""

HANDLERS = {
    "queues/sleepy.py": """
def handle(context, job):
    record("sleepy", id=job.id, attempt=job.attempt, tag=job.payload.tag, phase="start")
    _time.sleep(job.payload.seconds)
    record("sleepy", id=job.id, attempt=job.attempt, tag=job.payload.tag, phase="end")
    return {"slept": job.payload.seconds}
""",
    "queues/flaky.py": """
def handle(context, job):
    record("flaky", id=job.id, attempt=job.attempt, tag=job.payload.tag)
    raise RuntimeError(f"boom on attempt {job.attempt}")
""",
    "queues/later.py": """
def handle(context, job):
    message = context.message.message_id
    record("later", id=job.id, attempt=job.attempt, tag=job.payload.tag, message=message)
""",
    "commands/long_command.py": """
def handle(context, payload):
    record("long", id=context.message.message_id)
    _time.sleep(payload.seconds)
    return {"ran": 1}
""",
    "commands/remember.py": """
def handle(context, payload):
    context.states.set_state(payload.key, payload.value, ttl=payload.ttl)
    return {}
""",
    "commands/recall.py": """
def handle(context, payload):
    return {"value": context.states.get_state(payload.key)}
""",
    "commands/start_report.py": """
def handle(context, payload):
    job = context.queue.enqueue.sleepy({"seconds": payload.seconds, "tag": "report"})
    return {"jobId": job.id, "status": "queued"}
""",
}


@pytest.fixture(scope="module")
def jobs_project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    base = tmp_path_factory.mktemp("jobs")
    result = purista(
        "new", "jobs", "--spec", str(ROOT / "tests/specs/jobs.yaml"), "--output", str(base)
    )
    assert result.returncode == 0, result.stderr
    project = Project(base / "jobs", project_venv(base / "jobs"), "jobs")
    for relative, code in HANDLERS.items():
        project.handler(f"work/v1/{relative}", RECORD + code)
    return project


@pytest.fixture
def env(jobs_project: Project, redis_url: str) -> Iterator[dict[str, str]]:
    yield jobs_project.env(redis_url)
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter("jobs:*"):
        client.delete(key)
    for key in client.scan_iter("test:*"):
        client.delete(key)


def records(url: str, name: str) -> list[dict[str, object]]:
    return [json.loads(x) for x in redis.Redis.from_url(url).lrange(f"test:{name}", 0, -1)]


def start(
    project: Project, processes: Processes, env: dict[str, str], log: Path, *args: str
) -> subprocess.Popen[bytes]:
    return processes.start(
        [project.python, "-m", "jobs", "worker", *args], cwd=project.root, env=env, log=log
    )


def enqueue(
    project: Project, env: dict[str, str], queue: str, payload: dict[str, object], *extra: str
) -> str:
    result = project.run("enqueue", queue, json.dumps(payload), *extra, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def job(project: Project, env: dict[str, str], job_id: str) -> dict[str, object]:
    result = project.run("job", job_id, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_killed_workers_job_runs_again_within_lease_plus_10_s(
    jobs_project: Project, env: dict[str, str], redis_url: str, processes: Processes, tmp_path: Path
) -> None:
    first = start(jobs_project, processes, env, tmp_path / "a.log", "--queue", "sleepy")
    # Longer than the 2 s lease: the worker renews the lease while it lives.
    job_id = enqueue(jobs_project, env, "sleepy", {"seconds": 6, "tag": "killed"})
    assert wait_for(lambda: records(redis_url, "sleepy"), 30)
    time.sleep(3)  # past the lease: a renewed lease keeps other workers off the job
    assert job(jobs_project, env, job_id)["status"] == "running"
    processes.stop(first, signal.SIGKILL)  # the whole process group
    killed_at = time.time()
    start(jobs_project, processes, env, tmp_path / "b.log", "--queue", "sleepy")
    assert wait_for(lambda: job(jobs_project, env, job_id)["status"] == "succeeded", 2 + 10 + 6)
    rerun = [r for r in records(redis_url, "sleepy") if r["attempt"] == 2 and r["phase"] == "start"]
    assert len(rerun) == 1
    assert float(rerun[0]["at"]) - killed_at <= 2 + 10  # within the lease + 10 s
    assert job(jobs_project, env, job_id)["attempt"] == 2


def test_a_failing_job_runs_max_attempts_times_then_is_dead_and_can_be_redriven(
    jobs_project: Project, env: dict[str, str], redis_url: str, processes: Processes, tmp_path: Path
) -> None:
    start(jobs_project, processes, env, tmp_path / "w.log", "--queue", "flaky")
    job_id = enqueue(jobs_project, env, "flaky", {"tag": "doomed"})
    assert wait_for(lambda: job(jobs_project, env, job_id)["status"] == "dead", 30)
    time.sleep(1.5)  # no further attempt after the last one
    assert [r["attempt"] for r in records(redis_url, "flaky")] == [1, 2, 3]
    record = job(jobs_project, env, job_id)
    assert record["attempt"] == 3
    assert record["last_error"] == "RuntimeError: boom on attempt 3"
    client = redis.Redis.from_url(redis_url)
    assert client.lrange("jobs:jobs:flaky.dead-letter", 0, -1) == [job_id.encode()]
    listed = jobs_project.run("dlq", "list", "flaky", env=env)
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [job_id]

    redrive = jobs_project.run("dlq", "redrive", "flaky", env=env)
    assert redrive.returncode == 0 and "redrove 1" in redrive.stdout
    assert wait_for(lambda: len(records(redis_url, "flaky")) == 6, 30)
    assert wait_for(lambda: job(jobs_project, env, job_id)["status"] == "dead", 10)
    purge = jobs_project.run("dlq", "purge", "flaky", env=env)
    assert "purged 1" in purge.stdout
    assert client.llen("jobs:jobs:flaky.dead-letter") == 0


def test_a_delayed_job_runs_once_not_before_its_delay_even_past_its_lease(
    jobs_project: Project, env: dict[str, str], redis_url: str, processes: Processes, tmp_path: Path
) -> None:
    start(jobs_project, processes, env, tmp_path / "w.log", "--queue", "later")
    enqueued_at = time.time()
    job_id = enqueue(jobs_project, env, "later", {"tag": "delayed"}, "--delay", "3")
    assert job(jobs_project, env, job_id)["status"] == "scheduled"
    assert wait_for(lambda: records(redis_url, "later"), 20)
    ran = records(redis_url, "later")
    assert float(ran[0]["at"]) >= enqueued_at + 3
    time.sleep(3)  # well past the 1 s lease: nothing runs it again
    assert len(records(redis_url, "later")) == 1


def test_a_thousand_jobs_due_at_once_run_exactly_once_on_two_workers(
    jobs_project: Project, env: dict[str, str], redis_url: str, processes: Processes, tmp_path: Path
) -> None:
    script = (
        "from jobs._purista.app import get_client\n"
        "from jobs._purista.jobs import JobStore\n"
        "from jobs._purista.project import QUEUES\n"
        "store = JobStore(get_client())\n"
        "for i in range(1000):\n"
        "    store.enqueue(QUEUES['later'], {'tag': str(i)}, {}, delay=3)\n"
    )
    subprocess.run([jobs_project.python, "-c", script], env={**os.environ, **env}, check=True)
    for name in ("a", "b"):
        start(jobs_project, processes, env, tmp_path / f"{name}.log", "--queue", "later")
    assert wait_for(lambda: len(records(redis_url, "later")) >= 1000, 60)
    time.sleep(2)
    ran = records(redis_url, "later")
    assert len(ran) == 1000
    assert len({r["id"] for r in ran}) == 1000
    assert all(r["message"] == r["id"] for r in ran)  # each job is a message of its own
    assert len({r["pid"] for r in ran}) == 2  # both workers took part


def test_the_same_idempotency_key_gives_one_job(
    jobs_project: Project, env: dict[str, str], redis_url: str, processes: Processes, tmp_path: Path
) -> None:
    first = enqueue(jobs_project, env, "later", {"tag": "once"}, "--key", "order-42")
    second = enqueue(jobs_project, env, "later", {"tag": "twice"}, "--key", "order-42")
    other = enqueue(jobs_project, env, "later", {"tag": "other"}, "--key", "order-43")
    assert first == second != other
    start(jobs_project, processes, env, tmp_path / "w.log", "--queue", "later")
    assert wait_for(lambda: len(records(redis_url, "later")) == 2, 20)
    time.sleep(1)
    assert sorted(r["tag"] for r in records(redis_url, "later")) == ["once", "other"]


def test_a_command_longer_than_a_queues_lease_runs_once(
    jobs_project: Project, env: dict[str, str], redis_url: str, processes: Processes, tmp_path: Path
) -> None:
    start(jobs_project, processes, env, tmp_path / "jobs.log", "--queue", "sleepy")
    start(jobs_project, processes, env, tmp_path / "work.log", "work")
    result = jobs_project.run(
        "invoke", "work.v1.longCommand", '{"seconds": 6}', env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    report = jobs_project.run(
        "invoke", "work.v1.startReport", '{"seconds": 5}', env=env, timeout=30
    )
    answer = json.loads(report.stdout)
    assert answer["status"] == "queued"
    assert wait_for(lambda: job(jobs_project, env, answer["jobId"])["status"] == "succeeded", 30)
    time.sleep(1)
    assert len(records(redis_url, "long")) == 1
    assert [r["phase"] for r in records(redis_url, "sleepy")] == ["start", "end"]


def test_state_entries_expire_after_the_services_ttl_or_their_own(
    jobs_project: Project,
    env: dict[str, str],
    processes: Processes,
    tmp_path: Path,
    redis_url: str,
) -> None:
    start(jobs_project, processes, env, tmp_path / "work.log", "work")

    def call(target: str, payload: dict[str, object]) -> dict[str, object]:
        result = jobs_project.run("invoke", target, json.dumps(payload), env=env, timeout=30)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def ttl_ms(key: str) -> int:
        (found,) = redis.Redis.from_url(redis_url).keys(f"jobs:state:work.v1:*{key}*")
        return int(redis.Redis.from_url(redis_url).pttl(found))

    assert wait_for(lambda: call("work.v1.remember", {"key": "short", "value": "a"}) == {}, 30)
    assert 0 < ttl_ms("short") <= 3000  # the service's state_ttl is 3 s, set in Redis
    assert call("work.v1.recall", {"key": "short"}) == {"value": "a"}
    call("work.v1.remember", {"key": "long", "value": "b", "ttl": 30})
    assert 3000 < ttl_ms("long") <= 30000
    time.sleep(3.3)
    assert call("work.v1.recall", {"key": "short"}) == {"value": None}  # an explicit null
    assert call("work.v1.recall", {"key": "long"}) == {"value": "b"}


def test_job_and_stats_report_what_redis_holds(
    jobs_project: Project, env: dict[str, str], redis_url: str
) -> None:
    pending = [enqueue(jobs_project, env, "later", {"tag": str(i)}) for i in range(3)]
    enqueue(jobs_project, env, "later", {"tag": "x"}, "--delay", "60")
    record = job(jobs_project, env, pending[0])
    assert (
        record["status"] == "queued"
        and record["attempt"] == 0
        and record["payload"] == {"tag": "0"}
    )
    time.sleep(0.5)
    result = jobs_project.run("stats", "--json", env=env)
    figures = json.loads(result.stdout)["queues"]["later"]
    client = redis.Redis.from_url(redis_url)
    assert figures["pending"] == client.llen("jobs:jobs:later:pending") == 3
    assert figures["scheduled"] == client.zcard("jobs:jobs:later:scheduled") == 1
    assert figures["in_flight"] == 0 and figures["dead_letters"] == 0
    assert figures["oldest_age"] >= 0.5
    table = jobs_project.run("stats", env=env).stdout
    assert "later" in table and "sleepy" in table
    assert jobs_project.run("job", "no-such-job", env=env).returncode == 1
