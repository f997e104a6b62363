"""Commands end to end: generated projects on a real Redis with real Celery workers."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest
import redis
from support import Processes, Project, project_venv, purista, wait_for

pytestmark = pytest.mark.e2e

GREET = textwrap.dedent(
    """
    from hello.services.greeter.v1._generated.context import GreetContext
    from hello.services.greeter.v1._generated.models import GreetOutput, GreetPayload


    def handle(context: GreetContext, payload: GreetPayload) -> GreetOutput:
        context.logger.info("greeting %s", payload.name)
        return GreetOutput(message=f"Hello, {payload.name}!")
    """
)

PLAIN_CLIENT = textwrap.dedent(
    """
    import json, sys
    from celery import Celery

    url, task, queue, payload = sys.argv[1:5]
    app = Celery(broker=url, backend=url)
    app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"])
    result = app.send_task(task, kwargs={"payload": json.loads(payload)}, queue=queue)
    try:
        print(json.dumps({"ok": True, "result": result.get(timeout=30)}))
    except Exception as exc:
        print(json.dumps({"ok": False, "type": type(exc).__name__, "message": str(exc)}))
    """
)


def plain_call(
    project: Project, url: str, task: str, queue: str, payload: object
) -> dict[str, object]:
    """Call a command as a foreign Celery client that knows only task name, queue and `payload`."""
    result = subprocess.run(
        [project.python, "-c", PLAIN_CLIENT, url, task, queue, json.dumps(payload)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def start_greeter(
    project: Project, processes: Processes, env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    """Start the greeter's worker and wait until it answers."""
    worker = processes.start(
        [project.python, "-m", "hello", "worker", "greeter"], cwd=project.root, env=env, log=log
    )
    greet = ("invoke", "greeter.v1.greet", '{"name": "Ada"}')
    assert wait_for(lambda: project.run(*greet, env=env, timeout=20).returncode == 0, 60)
    return worker


@pytest.mark.parametrize("spec", ["minimal", "shop"])
def test_generated_project_passes_its_own_tests_linters_and_mypy(
    installed: dict[str, Project], spec: str
) -> None:
    project = installed[spec]
    env = {**os.environ, "PYTHONPATH": str(project.root / "src")}
    for args in (
        ["-m", "pytest", "-q", "-p", "no:cacheprovider"],
        ["-m", "ruff", "check", "."],
        ["-m", "ruff", "format", "--check", "."],
        ["-m", "mypy"],
    ):
        result = subprocess.run(
            [project.python, *args],
            cwd=project.root,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"


def test_worker_answers_invoke_plain_client_and_rejects_invalid_payload(
    fresh: dict[str, Project], redis_url: str, processes: Processes, tmp_path: Path
) -> None:
    project = fresh["minimal"]
    project.handler("greeter/v1/commands/greet.py", GREET)
    env = project.env(redis_url)
    log = tmp_path / "worker.log"
    start_greeter(project, processes, env, log)
    result = project.run("invoke", "greeter.v1.greet", '{"name": "Ada"}', env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"message": "Hello, Ada!"}

    got = plain_call(project, redis_url, "greeter.v1.greet", "hello.greeter.v1", {"name": "Grace"})
    assert got == {"ok": True, "result": {"message": "Hello, Grace!"}}

    got = plain_call(project, redis_url, "greeter.v1.greet", "hello.greeter.v1", {"name": ""})
    assert got["ok"] is False
    assert got["type"] == "InvalidPayload"
    assert "name" in str(got["message"])

    # The command line checks the payload before sending it: bad input, exit 2.
    result = project.run("invoke", "greeter.v1.greet", '{"nom": "x"}', env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("InvalidPayload: ") and "name" in result.stderr

    # The worker is still serving after the invalid payloads.
    got = plain_call(project, redis_url, "greeter.v1.greet", "hello.greeter.v1", {"name": "Linus"})
    assert got == {"ok": True, "result": {"message": "Hello, Linus!"}}


def test_foreign_garbage_on_the_queue_does_not_stop_the_worker(
    fresh: dict[str, Project], redis_url: str, processes: Processes, tmp_path: Path
) -> None:
    project = fresh["minimal"]
    project.handler("greeter/v1/commands/greet.py", GREET)
    env = project.env(redis_url)
    log = tmp_path / "worker.log"
    worker = start_greeter(project, processes, env, log)

    garbage = [
        b"not json at all",
        b'{"foo": 1}',
        b"[1, 2, 3]",
        b'"a string"',
        b"\xff\xfe binary",
        json.dumps(
            {
                "body": "!!!",
                "properties": {"delivery_tag": "x", "delivery_info": {}, "body_encoding": "base64"},
            }
        ).encode(),
        json.dumps(
            {
                "body": "e30=",
                "content-type": "application/json",
                "content-encoding": "utf-8",
                "headers": {},
                "properties": {"delivery_tag": "y", "delivery_info": {}, "body_encoding": "base64"},
            }
        ).encode(),
    ]
    client = redis.Redis.from_url(redis_url)
    client.lpush("hello.greeter.v1", *garbage)
    assert wait_for(lambda: client.llen("hello.greeter.v1") == 0, 20)

    result = project.run("invoke", "greeter.v1.greet", '{"name": "after"}', env=env, timeout=60)
    assert result.returncode == 0, result.stderr + log.read_text()
    assert json.loads(result.stdout) == {"message": "Hello, after!"}
    assert worker.poll() is None
    assert "dropped a message" in log.read_text()


def test_the_built_in_example_works_out_of_the_box(
    redis_url: str, processes: Processes, tmp_path: Path
) -> None:
    result = purista("new", "myshop", "--example", "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr
    project = Project(tmp_path / "myshop", project_venv(tmp_path / "myshop"), "myshop")
    env = project.env(redis_url)
    for args in (
        ["-m", "pytest", "-q", "-p", "no:cacheprovider"],
        ["-m", "ruff", "check", "."],
        ["-m", "mypy"],
    ):
        checked = subprocess.run(
            [project.python, *args],
            cwd=project.root,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert checked.returncode == 0, f"{args}: {checked.stdout}\n{checked.stderr}"
    for service in ("user", "order", "email"):
        processes.start(
            [project.python, "-m", "myshop", "worker", service],
            cwd=project.root,
            env=env,
            log=tmp_path / f"{service}.log",
        )
    processes.start(
        [project.python, "-m", "myshop", "worker", "--queue", "processAvatar"],
        cwd=project.root,
        env=env,
        log=tmp_path / "avatar.log",
    )
    me = json.dumps({"email": "ada@example.org", "password": "correct horse", "displayName": "Ada"})
    assert wait_for(
        lambda: project.run("invoke", "user.v1.signUp", me, env=env, timeout=20).returncode == 0, 60
    )
    user = json.loads(project.run("invoke", "user.v1.signUp", me, env=env).stdout)
    order = project.run(
        "invoke",
        "order.v1.placeOrder",
        json.dumps(
            {"userId": user["userId"], "items": [{"sku": "ABC-1", "quantity": 2, "price": 2.5}]}
        ),
        env=env,
    )
    assert order.returncode == 0, order.stderr
    assert json.loads(order.stdout)["total"] == 5.0
    unknown = project.run(
        "invoke",
        "order.v1.placeOrder",
        json.dumps({"userId": "nobody", "items": [{"sku": "ABC-1", "quantity": 1, "price": 1}]}),
        env=env,
    )
    assert unknown.returncode == 1
    assert "UnknownUserError: no user nobody" in unknown.stderr
    client = redis.Redis.from_url(redis_url)
    assert wait_for(lambda: client.exists(f"myshop:state:user.v1:avatar:{user['userId']}"), 30)
    assert wait_for(
        lambda: (
            "order" in (tmp_path / "email.log").read_text()
            and "welcome mail to ada@example.org" in (tmp_path / "email.log").read_text()
        ),
        30,
    )
