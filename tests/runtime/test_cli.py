"""The project's command line (`purista.runtime.cli`), run in-process against the test run's
Redis, and for `invoke` a real Celery worker on a thread of the test process."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from celery.signals import setup_logging
from celery.worker import WorkController
from purista.runtime import cli
from purista.runtime.app import get_app, get_bridge, register
from purista.runtime.cli import collect_stats, format_stats, main
from purista.runtime.context import Message
from purista.runtime.info import PACKAGE
from purista.runtime.jobs import Claimed, JobStore, job_key, keys
from purista.runtime.project import QUEUES
from purista.runtime.runner import service_bindings
from runtime_double.handlers import audit, count, greet, work

QUEUE = QUEUES["work"]
K = keys(QUEUE.name)
GREETER = "rtdouble.greeter.v1"
BINDINGS = service_bindings("greeter.v1") + service_bindings("shouter.v1")


@pytest.fixture(autouse=True)
def no_exporters(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command line sets up telemetry: nothing is exported from the tests."""
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the command line; its exit code, standard output and standard error."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    out, err = capsys.readouterr()
    code = exited.value.code
    assert isinstance(code, int)
    return code, out, err


def _leave_logging_alone(**_: Any) -> None:
    """Keep Celery from reconfiguring the root logger of the test process."""


@contextmanager
def worker(*queues: str) -> Iterator[WorkController]:
    """A solo Celery worker on a thread of this process, consuming `queues`; stopped on exit."""
    app = get_app()
    register(app, [b for b in BINDINGS if b.task not in app.tasks])
    threads = set(threading.enumerate())
    setup_logging.connect(_leave_logging_alone)
    try:
        with start_worker(app, perform_ping_check=False, queues=list(queues)) as running:
            yield running
    finally:
        setup_logging.disconnect(_leave_logging_alone)
    assert set(threading.enumerate()) <= threads


def claim(s: JobStore) -> Claimed:
    job = s.claim(QUEUE)
    assert job is not None
    return job


def kill(s: JobStore, payload: dict[str, Any]) -> str:
    """Enqueue a job and run it to its death (every attempt failed); returns its id."""
    job_id = s.enqueue(QUEUE, payload, {"trace_id": "tr"})
    while True:
        job = claim(s)
        assert job.id == job_id
        if s.fail(QUEUE, job, "RuntimeError: no") == "dead":
            return job_id
        s.client.zadd(K["scheduled"], {job_id: 0})
        s.promote(QUEUE)


# ------------------------------------------------------------------ enqueue and job


def test_enqueue_prints_a_job_id_that_job_then_shows(
    client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "enqueue", "work", '{"task":"ok"}')
    assert code == 0
    job_id = out.strip()
    assert client.lrange(K["pending"], 0, -1) == [job_id.encode()]
    code, out, _ = run(capsys, "job", job_id)
    assert code == 0
    record = json.loads(out)
    assert (record["id"], record["status"]) == (job_id, "queued")
    assert record["payload"] == {"task": "ok", "seconds": 0.0}  # the defaults are sent too
    assert record["message"]["trace_id"]


def test_enqueue_with_a_key_gives_one_job_and_with_a_delay_schedules_it(
    client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    first = run(capsys, "enqueue", "work", '{"task":"a"}', "--key", "k1")[1]
    again = run(capsys, "enqueue", "work", '{"task":"b"}', "--key", "k1")[1]
    assert first == again
    code, out, _ = run(capsys, "enqueue", "work", '{"task":"c"}', "--delay", "30")
    assert code == 0
    assert client.zscore(K["scheduled"], out.strip()) is not None
    assert client.llen(K["pending"]) == 1


def test_enqueue_of_an_invalid_payload_exits_2_naming_the_field(
    client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "enqueue", "work", '{"seconds":"soon"}')
    assert code == 2
    assert out == ""
    assert err.startswith("InvalidPayload: job work is invalid:")
    assert "task: Field required" in err
    assert "seconds:" in err
    assert client.dbsize() == 0


def test_enqueue_of_text_that_is_not_json_is_a_usage_error(
    client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "enqueue", "work", "{task: ok}")
    assert code == 2
    assert "the payload (the argument) is not JSON" in err
    assert client.dbsize() == 0


def test_job_of_an_unknown_id_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "job", "no-such-job")
    assert (code, out) == (1, "")
    assert "no job no-such-job" in err


# -------------------------------------------------------------------------- dlq


def test_dlq_list_shows_the_dead_jobs_newest_first(
    client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    s = JobStore(client)
    older, newer = kill(s, {"task": "a"}), kill(s, {"task": "b"})
    code, out, _ = run(capsys, "dlq", "list", "work")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows == [
        {"id": newer, "attempt": 3, "last_error": "RuntimeError: no", "payload": {"task": "b"}},
        {"id": older, "attempt": 3, "last_error": "RuntimeError: no", "payload": {"task": "a"}},
    ]


def test_dlq_redrive_requeues_the_dead_jobs(
    client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    s = JobStore(client)
    ids = [kill(s, {"task": "a"}), kill(s, {"task": "b"})]
    code, out, _ = run(capsys, "dlq", "redrive", "work")
    assert (code, out) == (0, "redrove 2 jobs of work\n")
    assert client.llen(K["dead"]) == 0
    assert {i.decode() for i in client.lrange(K["pending"], 0, -1)} == set(ids)
    assert run(capsys, "dlq", "list", "work")[1] == ""


def test_dlq_purge_deletes_the_dead_jobs(
    client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    s = JobStore(client)
    ids = [kill(s, {"task": "a"}), kill(s, {"task": "b"})]
    alive = s.enqueue(QUEUE, {"task": "c"}, {})
    code, out, _ = run(capsys, "dlq", "purge", "work")
    assert (code, out) == (0, "purged 2 from work\n")
    assert client.llen(K["dead"]) == 0
    assert not any(client.exists(job_key(i)) for i in ids)
    assert client.exists(job_key(alive))


def test_dlq_of_an_unknown_queue_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "dlq", "list", "nowork")
    assert code == 2
    assert "invalid choice: 'nowork'" in err


# ------------------------------------------------------------------------ stats


def fill(client: redis.Redis) -> None:
    """Jobs: one dead, two pending, one in flight, one scheduled; one command for greeter and
    one event per subscription waiting."""
    s = JobStore(client)
    kill(s, {"task": "dead"})
    for task in ("a", "b", "c"):
        s.enqueue(QUEUE, {"task": task}, {})
    claim(s)
    s.enqueue(QUEUE, {"task": "later"}, {}, delay=60)
    get_bridge().emit("greeted", {"name": "ada"}, Message.first())
    get_app().send_task("greeter.v1.greet", kwargs={"payload": {"name": "x"}}, queue=GREETER)


def test_collect_stats_counts_what_redis_holds(client: redis.Redis) -> None:
    fill(client)
    figures = collect_stats()
    work = figures["queues"]["work"]
    assert (work["pending"], work["scheduled"], work["in_flight"], work["dead_letters"]) == (
        2,
        1,
        1,
        1,
    )
    assert 0 <= work["oldest_age"] < 5
    assert figures["commands"] == {"rtdouble.greeter.v1": 1, "rtdouble.shouter.v1": 0}
    waiting = {"waiting": 1, "retrying": 0, "dead_letters": 0}
    assert figures["subscriptions"] == {
        "rtdouble.greeter.v1.audit": waiting,
        "rtdouble.shouter.v1.count": waiting,
    }


def test_stats_prints_a_table_of_the_figures(
    client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(client)
    code, out, _ = run(capsys, "stats")
    assert code == 0
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    assert rows["work"][:4] == ["2", "1", "1", "1"]
    assert float(rows["work"][4]) < 5
    assert rows["rtdouble.greeter.v1"] == ["1"]
    assert rows["rtdouble.shouter.v1"] == ["0"]
    assert rows["rtdouble.greeter.v1.audit"] == rows["rtdouble.shouter.v1.count"] == ["1", "0", "0"]


def test_stats_json_prints_the_figures(
    client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(client)
    code, out, _ = run(capsys, "stats", "--json")
    assert code == 0
    printed = json.loads(out)
    expected = collect_stats()
    assert printed["queues"]["work"]["oldest_age"] <= expected["queues"]["work"]["oldest_age"]
    for figures in (printed, expected):
        figures["queues"]["work"].pop("oldest_age")
    assert printed == expected


def test_format_stats_of_an_empty_project() -> None:
    table = format_stats(collect_stats())
    lines = table.splitlines()
    assert lines[0].split()[:2] == ["job", "queue"]
    assert lines[1].split() == ["work", "0", "0", "0", "0", "-"]
    assert "rtdouble.shouter.v1.count" in table


# ----------------------------------------------------------------------- invoke


def test_invoke_prints_the_output_of_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["invoke", "greeter.v1.greet", '{"name":"x"}', "--principal", "p1", "--tenant", "t1"]
    with worker(GREETER):
        code, out, err = run(capsys, *argv)
        failed = run(capsys, "invoke", "greeter.v1.greet", '{"name":"x","fail":"boom"}')
    assert (code, err) == (0, "")
    assert json.loads(out) == {"greeting": "hello x", "name": "x"}
    message = greet.CALLS[0]["message"]
    assert (message.principal_id, message.tenant_id) == ("p1", "t1")
    assert failed == (1, "", "ValueError: boom\n")


def test_invoke_without_a_worker_times_out(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "invoke", "greeter.v1.greet", '{"name":"x"}', "--timeout", "0.2")
    assert (code, out) == (1, "")
    assert err.startswith("InvokeTimeout: greeter.v1.greet did not answer within 0.2 s")


def test_invoke_of_an_invalid_payload_exits_2_naming_the_field_and_sends_nothing(
    client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "invoke", "greeter.v1.greet", '{"nom":"x"}')
    assert (code, out) == (2, "")
    assert err.startswith("InvalidPayload: payload of greeter.v1.greet is invalid:")
    assert "name: Field required" in err
    assert client.llen(GREETER) == 0


def test_invoke_of_an_unknown_command_suggests_the_close_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "invoke", "greeter.v1.greeet", '{"name":"x"}')
    assert (code, out) == (2, "")
    assert "no command greeter.v1.greeet; did you mean greeter.v1.greet?" in err
    code, _, err = run(capsys, "invoke", "zzz", "{}")
    assert code == 2
    assert "no command zzz; commands: greeter.v1.greet, shouter.v1.shout" in err


# ----------------------------------------------------------------- in-process

NOWHERE = "redis://127.0.0.1:9/0"  # the discard port: nothing listens there


@pytest.fixture
def in_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Redis pointing nowhere, and a fresh in-process session."""
    monkeypatch.setenv("REDIS_URL", NOWHERE)
    cli._Local.bridge = None
    yield
    cli._Local.bridge = None


@pytest.mark.usefixtures("in_process")
def test_invoke_in_process_runs_the_command_its_subscriptions_and_jobs_without_redis(
    capsys: pytest.CaptureFixture[str],
) -> None:
    payload = '{"name":"x","shout":true,"job":true}'
    argv = ["invoke", "greeter.v1.greet", payload, "--in-process", "--principal", "p1"]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert json.loads(out) == {"greeting": "HELLO X", "name": "x"}
    assert [c["name"] for c in audit.CALLS] == [c["name"] for c in count.CALLS] == ["x"]
    assert [c["task"] for c in work.CALLS] == ["ok"]
    assert greet.CALLS[0]["message"].principal_id == "p1"
    assert "in-process: greeted delivered to 2 subscriptions" in err
    assert "of work runs now" in err


@pytest.mark.usefixtures("in_process")
def test_invoke_in_process_reports_a_handlers_error_with_exit_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(
        capsys, "invoke", "greeter.v1.greet", '{"name":"x","fail":"boom"}', "--in-process"
    )
    assert (code, out, err) == (1, "", "ValueError: boom\n")
    code, out, err = run(capsys, "invoke", "greeter.v1.greet", '{"nom":"x"}', "--in-process")
    assert (code, out) == (2, "")
    assert "name: Field required" in err


@pytest.mark.usefixtures("in_process")
def test_enqueue_in_process_runs_the_job_at_once_and_reports_its_failure(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(
        capsys, "enqueue", "work", '{"task":"ok"}', "--in-process", "--delay", "60"
    )
    assert (code, err) == (0, "")
    assert [c["id"] for c in work.CALLS] == [out.strip()]
    code, out, err = run(capsys, "enqueue", "work", '{"task":"fail"}', "--in-process")
    assert code == 1
    assert err == "RuntimeError: failed on attempt 1\n"
    assert len(out.strip()) == 32


@pytest.mark.usefixtures("in_process")
def test_dev_in_process_runs_the_lines_of_stdin_in_one_session(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [
        "# a scenario, as a README gives it",
        f'python -m {PACKAGE} invoke greeter.v1.greet \'{{"name": "ada"}}\'',
        "",
        'enqueue work \'{"task": "ok"}\' --key once',
        'enqueue work \'{"task": "ok"}\' --key once',
        'invoke greeter.v1.greet \'{"name": "bob", "fail": "no"}\'',
        "stats",
        "invoke greeter.v1.greet '{unterminated",
    ]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
    code, out, err = run(capsys, "dev", "--in-process")
    assert code == 1  # three lines failed; the others ran
    end = out.index("}\n") + 1
    assert json.loads(out[:end]) == {"greeting": "hello ada", "name": "ada"}
    job, same = out[end:].split()
    assert job == same  # the same idempotency key: one job, run once
    assert len(work.CALLS) == 1
    assert [c["name"] for c in audit.CALLS] == ["ada"]
    assert err.splitlines()[-3:] == [
        "ValueError: no",
        "line 7: only invoke and enqueue run in-process",
        "line 8: No closing quotation",
    ]
