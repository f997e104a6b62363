"""The project command line on bad input and without Redis: one line each, exit 2 or 1."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from purista.runtime import app, cli
from purista.runtime.app import get_jobs
from purista.runtime.context import Message
from purista.runtime.project import QUEUES, SUBSCRIPTIONS
from support import free_port

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    """`python -m <package> ARGS` in this process: (exit code, stdout, stderr)."""

    def call(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as ended:
            cli.main(list(args))
        out, err = capsys.readouterr()
        return int(ended.value.code or 0), out, err

    return call


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ["enqueue", "work", "{}", "--delay", "-5"],
        ["enqueue", "work", "{}", "--delay", "inf"],
        ["enqueue", "work", "{}", "--delay", "nan"],
        ["enqueue", "work", "{}", "--delay", "1e17"],
        ["stats", "--watch", "-1"],
        ["stats", "--watch", "0"],
        ["worker", "greeter", "--concurrency", "-1"],
        ["worker", "greeter", "--concurrency", "0"],
        ["worker", "greeter", "--loglevel", "FOO"],
        ["invoke", "greeter.v1.greet", "{}", "--timeout", "0"],
        ["invoke", "greeter.v1.greet", "{}", "--timeout", "-3"],
        ["dlq", "list", "work", "--limit", "0"],
        ["dlq", "list", "work", "--offset", "-1"],
        ["worker"],
        ["worker", "greeter", "--queue", "work"],
        ["worker", "nobody"],
        ["worker", "greeter.v2"],
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(run: Run, args: list[str]) -> None:
    code, out, err = run(*args)
    assert code == 2
    assert out == ""
    assert one_line(err).startswith("python -m purista")


def test_a_bad_setting_is_one_line_and_exit_2(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PURISTA_JOB_RETENTION", "forever")
    app.reset()
    code, _, err = run("stats")
    assert code == 2
    assert one_line(err) == "PURISTA_JOB_RETENTION='forever': must be a number greater than 0"


@pytest.mark.parametrize(
    "args",
    [
        ["enqueue", "work", '{"task": "ok"}'],
        ["job", "0123"],
        ["dlq", "list", "work"],
        ["dlq", "purge", "work"],
        ["dlq", "redrive", "rtdouble.greeter.v1.audit"],
        ["stats"],
        ["invoke", "greeter.v1.greet", '{"name": "x"}', "--timeout", "1"],
    ],
)
@pytest.mark.parametrize("where", ["nobody listens", "a wrong password"])
def test_without_redis_each_command_is_one_line_and_exit_1(
    run: Run, monkeypatch: pytest.MonkeyPatch, redis_url: str, args: list[str], where: str
) -> None:
    if where == "nobody listens":
        monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    else:
        monkeypatch.setenv("REDIS_URL", redis_url.replace("redis://", "redis://:wrong@"))
    app.reset()
    code, out, err = run(*args)
    assert code == 1
    assert out == ""
    line = one_line(err)
    assert line.startswith(("cannot reach Redis: ", "InvokeTimeout: could not send")), line


def test_invoke_checks_the_payload_before_sending_anything(run: Run, client: redis.Redis) -> None:
    code, _, err = run("invoke", "greeter.v1.greet", '{"nom": "x"}')
    assert code == 2
    assert "name: Field required" in one_line(err)
    assert client.llen("rtdouble.greeter.v1") == 0


def test_payloads_come_from_a_file_or_stdin(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "job.json").write_text('{"task": "from-file"}', encoding="utf-8")
    code, out, _ = run("enqueue", "work", f"@{tmp_path / 'job.json'}")
    assert code == 0
    assert get_jobs().get(out.strip())["payload"] == {"task": "from-file", "seconds": 0.0}  # type: ignore[index]
    monkeypatch.setattr("sys.stdin", io.StringIO('{"task": "from-stdin"}'))
    code, out, _ = run("enqueue", "work", "-")
    assert code == 0
    assert get_jobs().get(out.strip())["payload"] == {"task": "from-stdin", "seconds": 0.0}  # type: ignore[index]
    code, _, err = run("enqueue", "work", f"@{tmp_path / 'missing.json'}")
    assert code == 2
    assert f"enqueue: cannot read the payload from {tmp_path / 'missing.json'}" in one_line(err)


def test_a_payload_over_the_limit_is_refused_naming_the_limit(
    run: Run, monkeypatch: pytest.MonkeyPatch, client: redis.Redis
) -> None:
    monkeypatch.setenv("PURISTA_MAX_PAYLOAD", "1000")
    app.reset()
    big = json.dumps({"task": "x" * 2000})
    for args in (
        ["enqueue", "work", big],
        ["invoke", "greeter.v1.greet", json.dumps({"name": "x" * 2000})],
    ):
        code, _, err = run(*args)
        assert code == 2
        line = one_line(err)
        assert line.startswith("PayloadTooLarge: the payload of ")
        assert "over the limit of 1000 (PURISTA_MAX_PAYLOAD)" in line
    assert client.llen("rtdouble.greeter.v1") == 0
    assert get_jobs().stats(QUEUES["work"])["pending"] == 0


def test_an_event_over_the_limit_is_refused_before_it_is_sent(
    monkeypatch: pytest.MonkeyPatch, client: redis.Redis
) -> None:
    monkeypatch.setenv("PURISTA_MAX_PAYLOAD", "100")
    app.reset()
    from purista.runtime.errors import PayloadTooLarge  # noqa: PLC0415

    with pytest.raises(PayloadTooLarge, match="event greeted"):
        app.get_bridge().emit("greeted", {"name": "x" * 200}, Message.first())
    assert client.llen("rtdouble.greeter.v1.audit") == 0


def test_dlq_list_pages_newest_first_and_says_what_is_left(run: Run) -> None:
    store = get_jobs()
    queue = QUEUES["work"]
    ids = []
    for i in range(5):
        job_id = store.enqueue(queue, {"task": f"t{i}"}, {})
        job = store.claim(queue)
        assert job is not None and job.id == job_id
        store.fail(queue, job, "boom", final=True)
        ids.append(job_id)
    code, out, err = run("dlq", "list", "work", "--limit", "2", "--offset", "1")
    assert code == 0
    assert [json.loads(line)["id"] for line in out.splitlines()] == [ids[3], ids[2]]
    assert one_line(err) == "2 of 5 shown; the next page: --offset 3"
    code, out, err = run("dlq", "list", "work", "--offset", "3")
    assert [json.loads(line)["id"] for line in out.splitlines()] == [ids[1], ids[0]]
    assert err == ""


def test_dlq_serves_a_subscription_by_its_queue(run: Run) -> None:
    code, out, _ = run("dlq", "list", next(iter(SUBSCRIPTIONS)))
    assert (code, out) == (0, "")
