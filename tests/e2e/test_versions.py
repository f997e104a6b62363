"""Two versions of a service live side by side on real workers and a real Redis.

The project comes from tests/specs/versions.yaml: `user` v1 and v2 each run their
own worker, validate their own schema (v2 requires a `name` v1 does not know),
keep their own state store and receive the event on their own subscription queue;
`portal` invokes the version it names. A second test starts from `add version`:
the v2 it makes has importable handlers whose tests pass.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from regen_support import ok
from support import ROOT, Processes, Project, project_venv, purista, wait_for

pytestmark = pytest.mark.e2e

SPEC = ROOT / "tests" / "specs" / "versions.yaml"
READY = 60.0  # seconds a worker may take to start on a busy machine

HANDLERS = {
    "user/v1/commands/sign_up.py": """
        from versioned.services.user.v1._generated.context import SignUpContext
        from versioned.services.user.v1._generated.models import SignUpOutput, SignUpPayload


        def handle(context: SignUpContext, payload: SignUpPayload) -> SignUpOutput:
            return SignUpOutput(user_id="v1-" + payload.email, version=1)
        """,
    "user/v2/commands/sign_up.py": """
        from versioned.services.user.v2._generated.context import SignUpContext
        from versioned.services.user.v2._generated.models import SignUpOutput, SignUpPayload


        def handle(context: SignUpContext, payload: SignUpPayload) -> SignUpOutput:
            user_id = f"v2-{payload.name}-{payload.email}"
            context.emit.user_signed_up({"userId": user_id})
            return SignUpOutput(user_id=user_id, version=2)
        """,
    "portal/v1/commands/register.py": """
        from typing import Any

        from versioned.services.portal.v1._generated.context import RegisterContext
        from versioned.services.portal.v1._generated.models import RegisterPayload


        def handle(context: RegisterContext, payload: RegisterPayload) -> dict[str, Any]:
            answer = context.invoke.user.v2.sign_up({"email": payload.email, "name": payload.name})
            return {"userId": answer.user_id, "version": answer.version}
        """,
}


def _audit(version: int) -> str:
    return f"""
        from versioned.events import UserSignedUpEvent
        from versioned.services.user.v{version}._generated.context import AuditContext


        def handle(context: AuditContext, event: UserSignedUpEvent) -> None:
            context.states.set_state("last", event.user_id)
        """


@pytest.fixture(scope="module")
def versioned(tmp_path_factory: pytest.TempPathFactory) -> Project:
    base = tmp_path_factory.mktemp("versions")
    result = purista("new", "versioned", "--spec", str(SPEC), "--output", str(base))
    assert result.returncode == 0, result.stderr
    project = Project(base / "versioned", project_venv(base / "versioned"), "versioned")
    for relative, code in {
        **HANDLERS,
        "user/v1/subscriptions/audit.py": _audit(1),
        "user/v2/subscriptions/audit.py": _audit(2),
    }.items():
        project.handler(relative, textwrap.dedent(code).lstrip())
    return project


@pytest.fixture
def workers(
    versioned: Project, redis_url: str, processes: Processes, tmp_path: Path
) -> Iterator[dict[str, str]]:
    """A worker of user v1, of user v2 and of portal (named by its service alone), all ready."""
    env = versioned.env(redis_url, OTEL_TRACES_EXPORTER="none", OTEL_METRICS_EXPORTER="none")
    logs = []
    for name in ("user.v1", "user.v2", "portal"):
        log = tmp_path / f"{name}.log"
        logs.append(log)
        processes.start(
            [versioned.python, "-m", "versioned", "worker", name],
            cwd=versioned.root,
            env=env,
            log=log,
        )
    for log in logs:
        assert wait_for(lambda log=log: " ready." in log.read_text(), READY), log.read_text()
    yield env


def invoke(project: Project, env: dict[str, str], target: str, payload: Any) -> Any:
    result = project.run("invoke", target, json.dumps(payload), env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_each_version_answers_with_its_own_schema_handler_and_state(
    versioned: Project, workers: dict[str, str], redis_url: str
) -> None:
    email = f"{uuid.uuid4().hex[:8]}@example.org"
    assert invoke(versioned, workers, "user.v1.signUp", {"email": email}) == {
        "userId": f"v1-{email}",
        "version": 1,
    }
    # v1's payload lacks the `name` v2 requires: refused before it is sent ...
    refused = versioned.run("invoke", "user.v2.signUp", json.dumps({"email": email}), env=workers)
    assert refused.returncode == 2
    assert "InvalidPayload" in refused.stderr and "name" in refused.stderr
    # ... and by v2's worker itself, sent as any Celery client would, on v2's queue.
    sent = subprocess.run(
        [versioned.python, "-c", RAW_SEND, "user.v2.signUp", "versioned.user.v2", email],
        env={**os.environ, **workers},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.startswith("InvalidPayload"), sent.stdout
    assert "name" in sent.stdout
    # The same payload on v1's queue is v1's to answer.
    sent = subprocess.run(
        [versioned.python, "-c", RAW_SEND, "user.v1.signUp", "versioned.user.v1", email],
        env={**os.environ, **workers},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert sent.stdout.strip() == json.dumps({"userId": f"v1-{email}", "version": 1}), sent.stderr

    # Another service reaches the version it names; v2's event reaches both versions'
    # subscriptions, each writing to its own state store.
    answer = invoke(versioned, workers, "portal.v1.register", {"email": email, "name": "ada"})
    user_id = f"v2-ada-{email}"
    assert answer == {"userId": user_id, "version": 2}
    client = redis.Redis.from_url(redis_url)
    for version in (1, 2):
        key = f"versioned:state:user.v{version}:last"
        assert wait_for(lambda key=key: client.get(key) == json.dumps(user_id).encode(), 30), key
    # `stats` lists each version's command queue and subscription queue.
    stats = versioned.run("stats", "--json", env=workers)
    assert stats.returncode == 0, stats.stderr
    figures = json.loads(stats.stdout)
    assert {"versioned.user.v1", "versioned.user.v2"} <= set(figures["commands"])
    assert {"versioned.user.v1.audit", "versioned.user.v2.audit"} <= set(figures["subscriptions"])


def test_in_process_each_version_checks_its_own_schema_and_a_caller_reaches_its_version(
    versioned: Project,
) -> None:
    env = {"PYTHONPATH": str(versioned.root / "src"), "OTEL_TRACES_EXPORTER": "none"}
    email = "ada@example.org"
    v1 = versioned.run(
        "invoke", "--in-process", "user.v1.signUp", json.dumps({"email": email}), env=env
    )
    assert v1.returncode == 0, v1.stderr
    assert json.loads(v1.stdout) == {"userId": f"v1-{email}", "version": 1}
    v2 = versioned.run(
        "invoke", "--in-process", "user.v2.signUp", json.dumps({"email": email}), env=env
    )
    assert v2.returncode == 2
    assert "InvalidPayload" in v2.stderr and "name" in v2.stderr
    payload = json.dumps({"email": email, "name": "ada"})
    answer = versioned.run("invoke", "--in-process", "portal.v1.register", payload, env=env)
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout) == {"userId": f"v2-ada-{email}", "version": 2}


RAW_SEND = textwrap.dedent(
    """
    import json, os, sys
    from celery import Celery

    task, queue, email = sys.argv[1:]
    app = Celery(broker=os.environ["REDIS_URL"], backend=os.environ["REDIS_URL"])
    result = app.send_task(task, kwargs={"payload": {"email": email}}, queue=queue)
    try:
        print(json.dumps(result.get(timeout=30)))
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}")
    """
)


GREET_V1 = """\
from hello.services.greeter.v1._generated.context import GreetContext
from hello.services.greeter.v1._generated.models import GreetOutput, GreetPayload


def handle(context: GreetContext, payload: GreetPayload) -> GreetOutput:
    return GreetOutput(message=f"Hello, {payload.name}!")
"""


def test_add_version_gives_v2_handlers_that_import_and_pass_their_tests(tmp_path: Path) -> None:
    # Named like the session's minimal project, so its cached venv serves this copy.
    spec = ROOT / "schemas" / "examples" / "minimal.yaml"
    result = purista("new", "minimal", "--spec", str(spec), "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr
    root = tmp_path / "minimal"
    (root / "src/hello/services/greeter/v1/commands/greet.py").write_text(GREET_V1)
    ok("add", "version", "greeter", cwd=root)
    project = Project(root, project_venv(root), "hello")
    tests = subprocess.run(
        [project.python, "-m", "pytest", "-v", "-p", "no:cacheprovider", "tests/services"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root / "src")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    # v2's tests run v2's handler (a copy of v1's) under its own task name, none skipped.
    for version in (1, 2):
        for test in ("answers_with_a_valid_output", "rejects_an_invalid_payload"):
            name = f"tests/services/greeter/v{version}/commands/test_greet.py::test_greet_{test}"
            assert f"{name} PASSED" in tests.stdout, tests.stdout
    assert "skipped" not in tests.stdout, tests.stdout
    v2 = (root / "src/hello/services/greeter/v2/commands/greet.py").read_text()
    assert v2 == GREET_V1.replace("greeter.v1.", "greeter.v2.")
