"""The hardened Redis transport (`purista.runtime.transport`): what it takes for an envelope,
and a real Celery worker, on a thread of the test process, that outlives foreign items."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any

import pytest
import redis
from celery_threads import registered, worker
from purista.runtime.app import get_app, get_bridge
from purista.runtime.context import Message
from purista.runtime.project import COMMANDS
from purista.runtime.transport import envelope_problem
from runtime_double.handlers import greet
from runtime_double.models import GreetOutput
from support import wait_for

GREET = COMMANDS["greeter.v1.greet"]
QUEUE = GREET.queue


def real_envelope(client: redis.Redis, name: str = "queued") -> dict[str, Any]:
    """A kombu envelope as Celery writes it: a greet command, taken back off its queue."""
    registered().send_task("greeter.v1.greet", kwargs={"payload": {"name": name}}, queue=QUEUE)
    item = client.rpop(QUEUE)
    assert isinstance(item, bytes)
    return dict(json.loads(item))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def greet_now() -> GreetOutput:
    return get_bridge().invoke(GREET, {"name": "after"}, GreetOutput, Message.first())


def dropped(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "purista.runtime.transport"]


# ----------------------------------------------------------------- envelope_problem

PROPERTIES = {"delivery_tag": "t1", "delivery_info": {"exchange": "", "routing_key": QUEUE}}


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ([1, 2], "a JSON list, not an object"),
        ("text", "a JSON str, not an object"),
        (7, "a JSON int, not an object"),
        (None, "a JSON NoneType, not an object"),
        ({}, "no `properties` object"),
        ({"properties": "x"}, "no `properties` object"),
        ({"properties": {}}, "no `delivery_tag` (a string) or `delivery_info` in its properties"),
        ({"properties": {"delivery_tag": "t1"}}, "no `delivery_tag` (a string) or `delivery_info`"),
        ({"properties": {"delivery_info": {}}}, "no `delivery_tag` (a string) or `delivery_info`"),
        (
            {"properties": {"delivery_tag": "t1", "delivery_info": "x"}},
            "no `delivery_tag` (a string) or `delivery_info`",
        ),
        (
            {"properties": {"delivery_tag": None, "delivery_info": {}}},
            "no `delivery_tag` (a string) or `delivery_info`",
        ),
        (
            {"properties": {**PROPERTIES, "body_encoding": "base64"}, "body": 5},
            "a base64 body that is not a string",
        ),
        (
            {"properties": {**PROPERTIES, "body_encoding": "base64"}},
            "a base64 body that is not a string",
        ),
        (
            {"properties": {**PROPERTIES, "body_encoding": "base64"}, "body": "%%%"},
            "a body that is not valid base64",
        ),
        (
            {"properties": {**PROPERTIES, "body_encoding": "base64"}, "body": "abc"},
            "a body that is not valid base64",
        ),
    ],
)
def test_envelope_problem_names_what_is_wrong(message: Any, problem: str) -> None:
    found = envelope_problem(message)
    assert found is not None
    assert found.startswith(problem)


def test_a_kombu_envelope_has_no_problem(client: redis.Redis) -> None:
    envelope = real_envelope(client)
    assert envelope["properties"]["body_encoding"] == "base64"
    assert envelope_problem(envelope) is None
    assert envelope_problem({"properties": PROPERTIES, "body": {"not": "encoded"}}) is None


# -------------------------------------------------------------- a worker goes on


def test_garbage_on_a_queue_is_dropped_and_the_next_message_handled(
    client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    envelope = real_envelope(client)
    garbage = [
        b"not json",
        b"\xff\xfe not utf-8",
        b'{"task": "greeter.v1.greet", "kwargs": {"payload": {"name": "x"}}}',
        b"[1, 2, 3]",
        json.dumps({**envelope, "body": "%%% not base64"}).encode(),
    ]
    for item in garbage:
        client.lpush(QUEUE, item)
    with worker(QUEUE):
        assert greet_now().name == "after"
    assert client.llen(QUEUE) == 0
    assert client.hlen("unacked") == 0
    assert [c["payload"].name for c in greet.CALLS] == ["after"]
    messages = dropped(caplog)
    assert len(messages) == len(garbage)
    assert sum("is not JSON" in m for m in messages) == 2
    assert sum("not a Celery message" in m for m in messages) == 3
    assert any("a body that is not valid base64" in m for m in messages)


def test_envelopes_celery_refuses_are_dropped_and_the_next_message_handled(
    client: redis.Redis,
) -> None:
    envelope = real_envelope(client)
    refused = [
        {**envelope, "body": b64(b"not json")},
        {**envelope, "headers": {**envelope["headers"], "task": "no.such.task"}},
        {**envelope, "content-type": "application/x-python-serialize"},
        {"properties": PROPERTIES, "body": "x"},
    ]
    for item in refused:
        client.lpush(QUEUE, json.dumps(item))
    with worker(QUEUE):
        assert greet_now().name == "after"
    assert client.llen(QUEUE) == 0
    assert client.hlen("unacked") == 0
    assert [c["payload"].name for c in greet.CALLS] == ["after"]


def test_an_envelope_whose_body_is_no_task_body_is_dropped(client: redis.Redis) -> None:
    envelope = real_envelope(client)
    client.lpush(QUEUE, json.dumps({**envelope, "body": b64(json.dumps({"a": 1}).encode())}))
    # Two slots, so the worker still answers; with the prefetch of one it would stall.
    with worker(QUEUE, pool="purista.runtime.pool:ThreadsPool", concurrency=2):
        assert greet_now().name == "after"
        assert client.hlen("unacked") == 0
    assert client.llen(QUEUE) == 0  # not put back on the queue when the worker stops


def test_an_envelope_with_a_null_delivery_tag_does_not_stop_the_worker(
    client: redis.Redis,
) -> None:
    envelope = real_envelope(client)
    properties = {**envelope["properties"], "delivery_tag": None}
    client.lpush(QUEUE, json.dumps({**envelope, "properties": properties}))
    with worker(QUEUE):
        output = get_bridge().invoke(
            replace(GREET, timeout=1.5), {"name": "after"}, GreetOutput, Message.first()
        )
    assert output.name == "after"


def test_a_message_taken_while_redis_went_away_goes_back_to_its_queue(
    client: redis.Redis, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """kombu pops a message, then records it as unacknowledged: Redis gone in between."""
    from kombu import Connection  # noqa: PLC0415
    from support import private_redis  # noqa: PLC0415

    app = get_app()
    message = app.amqp.as_task_v2("m-1", "greeter.v1.audit", kwargs={"payload": {"name": "x"}})
    envelope = {
        "body": base64.b64encode(
            json.dumps([[], {"payload": {"name": "x"}}, {}]).encode()
        ).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": message.headers,
        "properties": {
            "body_encoding": "base64",
            "delivery_tag": "tag-1",
            "delivery_info": {"exchange": "", "routing_key": "rtdouble.greeter.v1.audit"},
            "priority": 0,
        },
    }
    with private_redis(tmp_path_factory.mktemp("gone")) as gone_url:
        connection = Connection(gone_url, transport="purista.runtime.transport:Transport")
        channel = connection.default_channel
        channel.basic_consume(
            "rtdouble.greeter.v1.audit", no_ack=False, callback=lambda m: None, consumer_tag="c1"
        )
    # That Redis has stopped: recording the message as unacknowledged fails.
    with pytest.raises(redis.ConnectionError):
        connection.transport._deliver(envelope, "rtdouble.greeter.v1.audit")
    channel.qos.restore_at_shutdown = False  # nothing to restore, and no Redis to do it
    connection.release()
    assert wait_for(lambda: client.llen("rtdouble.greeter.v1.audit") == 1, 5, 0.05)
    assert json.loads(client.lpop("rtdouble.greeter.v1.audit")) == envelope  # type: ignore[arg-type]
