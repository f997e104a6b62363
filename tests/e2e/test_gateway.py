"""The HTTP gateway end to end: real workers, a real uvicorn, an HTTP client, a Redis of its own.

One project (tests/specs/gateway.yaml) is generated, given handlers and an auth hook,
and served for the whole module; a second gateway runs the generated hook as it is.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate
from prometheus_client.parser import text_string_to_metric_families
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

HANDLERS = {
    "front/v1/commands/echo.py": """
def handle(context, payload):
    message = context.message
    return {"text": payload.text, "principal": message.principal_id, "tenant": message.tenant_id}
""",
    "front/v1/commands/get_item.py": """
def handle(context, payload):
    seen = context.invoke.back.v1.whoami({})
    return {"itemId": payload.item_id, "tags": payload.tags or [], "seenBy": seen.principal,
            "tenant": seen.tenant}
""",
    "front/v1/commands/write_note.py": """
def handle(context, payload):
    context.emit.noted({"noteId": payload.note_id, "text": payload.text})
    return {"noteId": payload.note_id}
""",
    "front/v1/commands/fail.py": """
class OutOfStock(Exception):
    pass


def handle(context, payload):
    raise OutOfStock("no more widgets")
""",
    "front/v1/commands/slow.py": """
import time


def handle(context, payload):
    time.sleep(3)
    return {}
""",
    "front/v1/queues/build.py": """
def handle(context, job):
    if job.payload.fail:
        raise RuntimeError("the build broke")
    return {"built": job.payload.size, "principal": context.message.principal_id}
""",
    "back/v1/commands/whoami.py": """
def handle(context, payload):
    return {"principal": context.message.principal_id, "tenant": context.message.tenant_id}
""",
    "back/v1/commands/read_note.py": """
def handle(context, payload):
    found = context.states.get_state("note:" + payload.note_id) or {}
    return {"noteId": payload.note_id, "writer": found.get("writer"), "tenant": found.get("tenant")}
""",
    "back/v1/subscriptions/record_note.py": """
def handle(context, event):
    message = context.message
    context.states.set_state(
        "note:" + event.note_id, {"writer": message.principal_id, "tenant": message.tenant_id}
    )
""",
}

# Bearer <principal>[@<tenant>] lets a caller in; `Bearer nobody` is refused with 403.
AUTH_HOOK = """
from fastapi import Request

from gw._purista.gateway import Forbidden, Principal


async def authenticate(request: Request) -> Principal | None:
    token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if not token:
        return None
    if token == "nobody":
        raise Forbidden("nobody may do this")
    principal, _, tenant = token.partition("@")
    return Principal(id=principal, tenant_id=tenant or None)
"""


@dataclass
class Served:
    """The running project: its gateway's URL, a client and the means to stop Redis."""

    project: Project
    url: str
    client: httpx.Client
    redis_port: int
    redis_dir: Path
    redis: subprocess.Popen[bytes]
    pristine: Path  # the project's src/ with the generated auth hook
    logs: Path  # the folder of the processes' logs


def _gateway(project: Project, procs: Processes, env: dict[str, str], log: Path) -> str:
    port = free_port()
    procs.start(
        [project.python, "-m", "gw", "gateway", "--port", str(port)],
        cwd=project.root,
        env=env,
        log=log,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    assert wait_for(up, 30), log.read_text()
    return url


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("gateway")
    spec = ROOT / "tests" / "specs" / "gateway.yaml"
    result = purista("new", "gw", "--spec", str(spec), "--output", str(base))
    assert result.returncode == 0, result.stderr
    root = base / "gw"
    project = Project(root, project_venv(root), "gw")
    pristine = base / "pristine-src"
    shutil.copytree(root / "src", pristine)
    for relative, code in HANDLERS.items():
        project.handler(relative, code)
    (root / "src" / "gw" / "gateway_auth.py").write_text(AUTH_HOOK)
    redis_dir = base / "redis"
    redis_dir.mkdir()
    redis_port = free_port()
    redis_proc = redis_server(redis_port, redis_dir)
    procs = Processes()
    # Spans go to each process's log, where the tracing test reads them back.
    env = project.env(
        f"redis://127.0.0.1:{redis_port}/0",
        OTEL_TRACES_EXPORTER="console",
        OTEL_METRICS_EXPORTER="none",
        OTEL_BSP_SCHEDULE_DELAY="200",
    )
    state = Served(project, "", httpx.Client(), redis_port, redis_dir, redis_proc, pristine, base)
    try:
        for args in (["worker", "front"], ["worker", "back"], ["worker", "--queue", "build"]):
            procs.start(
                [project.python, "-m", "gw", *args],
                cwd=root,
                env=env,
                log=base / f"{args[-1]}.log",
            )
        state.url = _gateway(project, procs, env, base / "gateway.log")
        # Longer than any command's timeout (30 s at most here): the gateway answers first,
        # with the output or its own 504, and a failure shows which.
        with httpx.Client(base_url=state.url, timeout=40) as client:
            state.client = client
            yield state
    finally:
        procs.stop_all()
        state.redis.terminate()
        state.redis.wait(10)


def _problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert "Traceback" not in response.text
    return dict(body)


ALICE = {"Authorization": "Bearer alice@acme"}


def test_a_command_answers_with_its_output(served: Served) -> None:
    response = served.client.post("/echo", json={"text": "hi"})
    assert response.status_code == 200, response.text
    assert response.json() == {"text": "hi", "principal": None, "tenant": None}


def test_a_get_takes_its_path_and_query_and_the_principal_reaches_an_invoked_command(
    served: Served,
) -> None:
    response = served.client.get("/items/42?tags=a&tags=b&verbose=true", headers=ALICE)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "itemId": 42,
        "tags": ["a", "b"],
        "seenBy": "alice",
        "tenant": "acme",
    }


def test_the_principal_reaches_an_event_subscriber(served: Served) -> None:
    response = served.client.put("/notes/n1", json={"text": "hello"}, headers=ALICE)
    assert response.status_code == 200, response.text

    def recorded() -> dict[str, object] | None:
        found = served.client.get("/notes/n1").json()
        return found if found.get("writer") else None

    assert wait_for(recorded, 15), (served.logs / "back.log").read_text()[-6000:]
    assert recorded() == {"noteId": "n1", "writer": "alice", "tenant": "acme"}


def test_a_queue_answers_202_and_the_job_can_be_followed(served: Served) -> None:
    response = served.client.post("/builds", json={"size": 3}, headers=ALICE)
    assert response.status_code == 202, response.text
    job_id = response.json()["jobId"]
    assert response.headers["location"] == f"/jobs/{job_id}"

    def done() -> dict[str, object] | None:
        status = served.client.get(f"/jobs/{job_id}", headers=ALICE).json()
        return status if status["status"] == "succeeded" else None

    assert wait_for(done, 15)
    status = done()
    assert status is not None
    assert status["result"] == {"built": 3, "principal": "alice"}
    # Someone else's job is not theirs to see; without credentials, nobody's.
    other = served.client.get(f"/jobs/{job_id}", headers={"Authorization": "Bearer bob"})
    _problem(other, 404)
    _problem(served.client.get(f"/jobs/{job_id}"), 401)

    failing = served.client.post("/builds", json={"size": 1, "fail": True}, headers=ALICE)
    failed_id = failing.json()["jobId"]

    def dead() -> bool:
        status = served.client.get(f"/jobs/{failed_id}", headers=ALICE).json()
        return status["status"] == "dead"

    assert wait_for(dead, 15)
    _problem(served.client.get("/jobs/nope", headers=ALICE), 404)


def test_auth_refusals(served: Served) -> None:
    unauthorized = _problem(served.client.post("/builds", json={"size": 1}), 401)
    assert unauthorized["title"] == "Unauthorized"
    forbidden = _problem(
        served.client.get("/items/1", headers={"Authorization": "Bearer nobody"}), 403
    )
    assert forbidden["detail"] == "nobody may do this"


def test_the_generated_hook_denies_every_request(served: Served, tmp_path: Path) -> None:
    procs = Processes()
    env = {
        "REDIS_URL": f"redis://127.0.0.1:{served.redis_port}/0",
        "PYTHONPATH": str(served.pristine),
    }
    try:
        url = _gateway(served.project, procs, env, tmp_path / "gateway.log")
        with httpx.Client(base_url=url, timeout=10) as client:
            _problem(client.get("/items/1", headers=ALICE), 401)
            _problem(client.post("/builds", json={"size": 1}, headers=ALICE), 401)
            # A public route is served without asking the hook (no worker runs the stub here:
            # the workers of the module run the real handlers).
            assert client.post("/echo", json={"text": "x"}).status_code == 200
    finally:
        procs.stop_all()


def test_the_gateway_serves_its_request_durations_on_metrics(
    served: Served, tmp_path: Path
) -> None:
    procs = Processes()
    metrics_port = free_port()
    env = served.project.env(
        f"redis://127.0.0.1:{served.redis_port}/0",
        OTEL_TRACES_EXPORTER="none",
        OTEL_METRICS_EXPORTER="prometheus",
        OTEL_EXPORTER_PROMETHEUS_PORT=str(metrics_port),
    )
    try:
        url = _gateway(served.project, procs, env, tmp_path / "gateway.log")
        with httpx.Client(base_url=url, timeout=40) as client:
            for _ in range(3):
                assert client.post("/echo", json={"text": "hi"}).status_code == 200
            _problem(client.post("/echo", json={}), 422)
            _problem(client.get("/items/1"), 401)
            client.get("/healthz")
        exposed = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    finally:
        procs.stop_all()
    counts = {
        (
            sample.labels["http_request_method"],
            sample.labels["http_route"],
            sample.labels["http_response_status_code"],
        ): sample.value
        for family in text_string_to_metric_families(exposed)
        for sample in family.samples
        if sample.name == "http_server_request_duration_seconds_count"
        and not sample.labels["http_route"].endswith("z")  # the probes: /healthz, /readyz
    }
    # Each route is counted by its template, not its path; problem answers too.
    assert counts == {
        ("POST", "/echo", "200"): 3,
        ("POST", "/echo", "422"): 1,
        ("GET", "/items/{itemId}", "401"): 1,
    }
    assert 'purista_worker="gw-gateway"' in exposed
    assert "process_cpu_time_seconds_total" in exposed


def test_invalid_payloads_name_each_field(served: Served) -> None:
    body = _problem(served.client.post("/echo", json={"text": "", "count": "many"}), 422)
    pointers = sorted(entry["pointer"] for entry in body["errors"])  # type: ignore[attr-defined]
    assert pointers == ["/count", "/text"]
    wrong_param = _problem(served.client.get("/items/abc", headers=ALICE), 422)
    assert [e["pointer"] for e in wrong_param["errors"]] == ["/itemId"]  # type: ignore[attr-defined]
    missing = _problem(served.client.post("/echo", json={}), 422)
    assert [e["pointer"] for e in missing["errors"]] == ["/text"]  # type: ignore[attr-defined]
    _problem(served.client.post("/echo", json=[1, 2]), 422)


def test_bad_requests_are_problems_and_the_gateway_keeps_serving(served: Served) -> None:
    post = served.client.post
    json_type = {"content-type": "application/json"}
    _problem(post("/echo", content=b"{not json", headers=json_type), 400)
    _problem(post("/echo", content=b"text=hi", headers={"content-type": "text/plain"}), 415)
    _problem(post("/echo", content=json.dumps({"text": "x" * 5000}), headers=json_type), 413)
    _problem(served.client.get("/nowhere"), 404)
    _problem(served.client.delete("/echo"), 405)
    assert post("/echo", json={"text": "still here"}).status_code == 200


def test_handler_errors_and_timeouts(served: Served) -> None:
    failed = _problem(served.client.post("/fail"), 502)
    assert failed["error"] == {"type": "OutOfStock", "message": "no more widgets"}
    started = time.monotonic()
    timed_out = _problem(served.client.post("/slow"), 504)
    assert time.monotonic() - started < 3, "the timeout (1 s) is the gateway's wait"
    assert "did not answer within 1 s" in str(timed_out["detail"])


def test_the_openapi_document_is_valid_and_the_one_export_writes(served: Served) -> None:
    response = served.client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    validate(document)
    exported = purista("export", "openapi", "--spec", str(served.project.root / "purista.yaml"))
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout) == document
    echo = document["paths"]["/echo"]["post"]
    assert echo["security"] == []
    assert set(echo["responses"]) == {"200", "400", "413", "415", "422", "502", "503", "504"}
    build = document["paths"]["/builds"]["post"]
    assert set(build["responses"]) == {"202", "400", "401", "403", "413", "415", "422", "503"}


def _spans(folder: Path) -> list[dict[str, Any]]:
    """Every span the console exporter wrote to the logs in `folder`."""
    decoder, found = json.JSONDecoder(), []
    for log in folder.glob("*.log"):
        text, index = log.read_text(), 0
        while (start := text.find("{", index)) >= 0:
            try:
                value, index = decoder.raw_decode(text, start)
            except json.JSONDecodeError:
                index = start + 1
                continue
            if isinstance(value, dict) and "context" in value and "kind" in value:
                found.append(value)
    return found


def test_the_request_starts_the_trace_the_handlers_join(served: Served) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    parent = f"00-{trace_id}-00f067aa0ba902b7-01"
    headers = {**ALICE, "traceparent": parent}
    assert served.client.get("/items/7", headers=headers).status_code == 200
    wanted = {"GET /items/{itemId}", "command front.v1.getItem", "command back.v1.whoami"}

    def ours() -> dict[str, dict[str, Any]]:
        return {
            s["name"]: s
            for s in _spans(served.logs)
            if s["context"]["trace_id"] == f"0x{trace_id}" and s["name"] in wanted
        }

    assert wait_for(lambda: set(ours()) == wanted, 20), sorted(ours())
    server = ours()["GET /items/{itemId}"]
    assert server["kind"] == "SpanKind.SERVER"
    assert server["parent_id"] == "0x00f067aa0ba902b7"
    attributes = server["attributes"]
    assert attributes["http.route"] == "/items/{itemId}"
    assert attributes["http.request.method"] == "GET"
    assert attributes["http.response.status_code"] == 200
    assert ours()["command back.v1.whoami"]["attributes"]["purista.principal_id"] == "alice"
    # The gateway's span is the trace's only server span (FastAPI's own tracing is off).
    servers = [
        s
        for s in _spans(served.logs)
        if s["context"]["trace_id"] == f"0x{trace_id}" and s["kind"] == "SpanKind.SERVER"
    ]
    assert len(servers) == 1, [s["name"] for s in servers]


def test_redis_down_answers_503_at_once_and_the_gateway_recovers(served: Served) -> None:
    served.redis.terminate()
    served.redis.wait(10)
    try:

        def not_ready() -> bool:
            return served.client.get("/readyz").status_code == 503

        assert wait_for(not_ready, 5)
        for request in (
            lambda: served.client.post("/echo", json={"text": "hi"}),
            lambda: served.client.post("/builds", json={"size": 1}, headers=ALICE),
        ):
            started = time.monotonic()
            _problem(request(), 503)
            assert time.monotonic() - started < 0.5
    finally:
        served.redis = redis_server(served.redis_port, served.redis_dir)

    def echoes() -> bool:
        try:
            return served.client.post("/echo", json={"text": "back"}).status_code == 200
        except httpx.HTTPError:
            return False

    assert wait_for(echoes, 30)
    assert served.client.get("/readyz").status_code == 200


def test_the_generated_project_passes_its_own_tests_linters_and_mypy(
    served: Served, tmp_path: Path
) -> None:
    spec = ROOT / "tests" / "specs" / "gateway.yaml"
    result = purista("new", "gw", "--spec", str(spec), "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr
    root = tmp_path / "gw"
    assert "fastapi" in (root / "pyproject.toml").read_text()
    for args in (
        ["-m", "pytest", "-q", "-p", "no:cacheprovider"],
        ["-m", "ruff", "check", "."],
        ["-m", "ruff", "format", "--check", "."],
        ["-m", "mypy"],
    ):
        checked = subprocess.run(
            [served.project.python, *args],
            cwd=root,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root / "src")},
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert checked.returncode == 0, " ".join(args) + "\n" + checked.stdout + checked.stderr
