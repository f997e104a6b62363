"""The gateway's app (`purista.runtime.gateway`) in this process, on the double's routes and a
real Redis; no worker runs here (commands end to end: tests/e2e/test_gateway.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from purista.runtime.app import get_jobs
from purista.runtime.gateway import Forbidden, Principal, Readiness, create_app
from starlette.requests import Request
from starlette.testclient import TestClient

BOB = {"authorization": "Bearer bob@acme"}


def hook(request: Request) -> Principal | None:
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    if token == "nobody":
        raise Forbidden("not you")
    principal, _, tenant = token.partition("@")
    return Principal(principal, tenant or None) if principal else None


async def async_hook(request: Request) -> Principal | None:
    return hook(request)


@pytest.fixture
def http(redis_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(hook, max_body=200), raise_server_exceptions=False) as client:
        yield client


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def test_an_invalid_payload_names_each_field_by_its_pointer(http: TestClient) -> None:
    body = problem(http.post("/greet/bob", json={"shout": "loud", "extra": 1}, headers=BOB), 422)
    assert sorted(e["pointer"] for e in body["errors"]) == ["/extra", "/shout"]
    assert body["instance"] == "/greet/bob"
    problem(http.post("/greet/bob", json=["a"], headers=BOB), 422)


@pytest.mark.parametrize("use", [hook, async_hook], ids=["def", "async def"])
def test_the_hook_answers_401_and_403(redis_url: str, use: Any) -> None:
    with TestClient(create_app(use)) as client:
        refused = client.post("/greet/bob", json={})
        problem(refused, 401)
        assert refused.headers["www-authenticate"].startswith("Bearer")
        forbidden = problem(
            client.post("/greet/bob", json={}, headers={"authorization": "Bearer nobody"}), 403
        )
        assert forbidden["detail"] == "not you"


def test_a_public_queue_takes_a_job_and_reports_it_with_the_principal(http: TestClient) -> None:
    accepted = http.post("/work", json={"task": "t"}, headers=BOB)
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["jobId"]
    assert accepted.headers["location"] == f"/jobs/{job_id}"
    status = http.get(f"/jobs/{job_id}").json()
    assert (status["status"], status["queue"], status["attempt"]) == ("pending", "work", 0)
    # A public route does not ask the hook: the job carries no principal.
    assert get_jobs().get(job_id)["message"]["principal_id"] is None  # type: ignore[index]
    problem(http.get("/jobs/unknown", headers=BOB), 404)


def test_bodies_the_gateway_refuses(http: TestClient) -> None:
    typed = {"content-type": "application/json"}
    problem(http.post("/work", content=b"{", headers=typed), 400)
    problem(http.post("/work", content=b"task=t", headers={"content-type": "text/plain"}), 415)
    problem(http.post("/work", content=b'{"task": "' + b"x" * 300 + b'"}', headers=typed), 413)
    problem(http.get("/nowhere"), 404)
    problem(http.get("/work"), 405)
    assert http.get("/healthz").status_code == 200
    assert http.get("/readyz").status_code == 200
    assert http.get("/openapi.json").headers["content-type"] == "application/json"


def test_without_redis_requests_answer_503_at_once(redis_url: str) -> None:
    nowhere = Readiness("redis://127.0.0.1:1/0")
    assert nowhere.ready is False
    with TestClient(create_app(hook, readiness=nowhere)) as client:
        problem(client.get("/readyz"), 503)
        started = time.monotonic()
        refused = problem(client.post("/work", json={"task": "t"}), 503)
        assert time.monotonic() - started < 0.5
        assert "Redis" in refused["detail"]


def test_a_reply_sent_while_the_wait_was_cut_short_is_read_by_the_next_wait(
    client: redis.Redis,
) -> None:
    """Redis sends the answer, the waiting task is cancelled before it reads it (as a
    socket timeout does when the event loop was held up), and the answer is not lost."""
    gateway = create_app(hook).state.gateway
    reply = "rt:reply:cut-short"

    async def scenario() -> bytes | None:
        cut = asyncio.create_task(gateway._wait(reply, time.monotonic() + 5))
        await asyncio.sleep(0.2)  # the blocking read is on its way to Redis
        client.rpush(reply, b'{"ok": true}')
        time.sleep(0.2)  # Redis answers while the loop is held up
        cut.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cut
        found: bytes | None = await gateway._wait(reply, time.monotonic() + 1)
        await gateway.replies.aclose()
        return found

    assert asyncio.run(scenario()) == b'{"ok": true}'
    assert not client.exists(reply)  # read, then deleted
