"""The Celery bridge (`purista.runtime.bridge`) end to end: real Celery workers on threads of
the test process, the double's tasks, the test run's Redis."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import replace
from typing import Any

import pytest
import redis
from celery.signals import task_revoked
from celery_threads import registered, worker
from purista.runtime import errors, runner
from purista.runtime.app import get_bridge, get_jobs
from purista.runtime.bridge import error_record, rebuild_error
from purista.runtime.context import Message
from purista.runtime.project import COMMANDS, QUEUES
from runtime_double.handlers import audit, count, greet, shout
from runtime_double.models import GreetOutput, ShoutOutput
from support import wait_for

GREET = COMMANDS["greeter.v1.greet"]
SHOUT = COMMANDS["shouter.v1.shout"]
GREETER, SHOUTER = "rtdouble.greeter.v1", "rtdouble.shouter.v1"
AUDIT, COUNT = "rtdouble.greeter.v1.audit", "rtdouble.shouter.v1.count"
THREADS = "purista.runtime.pool:ThreadsPool"  # the threads pool a service worker runs


def envelopes(client: redis.Redis, queue: str) -> list[dict[str, Any]]:
    """The Celery messages waiting on `queue`, oldest first."""
    return [json.loads(item) for item in reversed(client.lrange(queue, 0, -1))]


def body(envelope: dict[str, Any]) -> list[Any]:
    """A message's `[args, kwargs, embed]`."""
    return list(json.loads(base64.b64decode(envelope["body"])))


# -------------------------------------------------------------------------- invoke


def test_invoke_returns_the_typed_output(client: redis.Redis) -> None:
    with worker(GREETER):
        output = get_bridge().invoke(GREET, {"name": "ada"}, GreetOutput, Message.first())
    assert output == GreetOutput(greeting="hello ada", name="ada")
    assert len(greet.CALLS) == 1
    assert client.keys("rtdouble:reply:*") == []  # the reply was read, then deleted
    assert client.keys("celery-task-meta-*") == []  # and not stored in the result backend


def test_a_builtin_error_comes_back_with_its_type_and_message() -> None:
    with worker(GREETER), pytest.raises(ValueError, match=r"^no such name$") as raised:
        get_bridge().invoke(
            GREET, {"name": "ada", "fail": "no such name"}, GreetOutput, Message.first()
        )
    assert type(raised.value) is ValueError


def test_a_handler_stopped_at_its_time_limit_is_a_timeout_to_the_caller() -> None:
    with (
        worker(GREETER),
        pytest.raises(
            errors.InvokeTimeout, match=r"greeter\.v1\.greet did not answer within .* was stopped"
        ),
    ):
        get_bridge().invoke(
            GREET, {"name": "ada", "fail": "time limit"}, GreetOutput, Message.first()
        )


def test_an_error_of_the_handler_s_own_class_comes_back_as_that_class() -> None:
    with worker(SHOUTER), pytest.raises(shout.HoarseError) as raised:
        get_bridge().invoke(SHOUT, {"text": "hoarse"}, ShoutOutput, Message.first())
    assert type(raised.value) is shout.HoarseError
    assert str(raised.value) == "no voice left"


def test_invoke_times_out_when_nobody_consumes_the_queue(client: redis.Redis) -> None:
    target = replace(GREET, queue="rtdouble.nobody", timeout=0.5)
    started = time.monotonic()
    with pytest.raises(
        errors.InvokeTimeout, match=r"greeter\.v1\.greet did not answer within 0\.5 s"
    ):
        get_bridge().invoke(target, {"name": "ada"}, GreetOutput, Message.first())
    assert 0.5 <= time.monotonic() - started < 2
    (sent,) = envelopes(client, "rtdouble.nobody")
    assert sent["headers"]["task"] == "greeter.v1.greet"
    assert sent["headers"]["expires"] is not None


def test_a_command_whose_caller_gave_up_is_not_run(client: redis.Redis) -> None:
    target = replace(GREET, queue="rtdouble.late", timeout=0.3)
    with pytest.raises(errors.InvokeTimeout):
        get_bridge().invoke(target, {"name": "ada"}, GreetOutput, Message.first())
    (sent,) = envelopes(client, "rtdouble.late")
    revoked: list[tuple[str, bool]] = []

    def on_revoked(request: Any, expired: bool, **_: Any) -> None:
        revoked.append((request.id, expired))

    task_revoked.connect(on_revoked)
    try:
        with worker("rtdouble.late"):
            assert wait_for(lambda: revoked, 5)
    finally:
        task_revoked.disconnect(on_revoked)
    assert revoked == [(sent["headers"]["id"], True)]
    assert greet.CALLS == []
    assert client.keys("rtdouble:reply:*") == []


def test_metadata_follows_the_flow_through_a_nested_invoke_and_a_job(client: redis.Redis) -> None:
    first = Message.first(principal_id="user-7", tenant_id="acme")
    with worker(GREETER, SHOUTER, pool=THREADS, concurrency=3):
        output = get_bridge().invoke(
            GREET, {"name": "ada", "shout": True, "job": True}, GreetOutput, first
        )
    assert output.greeting == "HELLO ADA"
    (greeted,) = greet.CALLS
    (shouted,) = shout.CALLS
    messages = [greeted["message"], shouted["message"]]
    for message in messages:
        assert (message.trace_id, message.principal_id, message.tenant_id) == (
            first.trace_id,
            "user-7",
            "acme",
        )
    assert len({first.message_id, *(m.message_id for m in messages)}) == 3
    job = get_jobs().claim(QUEUES["work"])
    assert job is not None
    assert job.payload["task"] == "ok"
    assert job.message["trace_id"] == first.trace_id
    assert job.message["message_id"] == greeted["message"].message_id
    assert (job.message["principal_id"], job.message["tenant_id"]) == ("user-7", "acme")


def test_a_threads_worker_takes_the_next_command_once_a_slot_is_free() -> None:
    target = replace(GREET, timeout=2)
    with worker(GREETER, pool=THREADS, concurrency=1):
        get_bridge().invoke(target, {"name": "first"}, GreetOutput, Message.first())
        started = time.monotonic()
        get_bridge().invoke(target, {"name": "second"}, GreetOutput, Message.first())
        took = time.monotonic() - started
    assert took < 1


def test_a_plain_celery_client_gets_the_output_json(client: redis.Redis) -> None:
    app = registered()
    with worker(GREETER):
        result = app.send_task(
            "greeter.v1.greet", kwargs={"payload": {"name": "ada"}}, queue=GREETER
        )
        assert result.get(timeout=5) == {"greeting": "hello ada", "name": "ada"}
    (call,) = greet.CALLS
    assert call["message"].message_id == call["message"].trace_id == result.id  # a new flow
    assert call["message"].principal_id is None


def test_a_plain_celery_client_gets_invalid_payload_naming_the_field() -> None:
    app = registered()
    with worker(GREETER):
        result = app.send_task(
            "greeter.v1.greet", kwargs={"payload": {"nom": "ada"}}, queue=GREETER
        )
        with pytest.raises(errors.InvalidPayload, match="name: Field required") as raised:
            result.get(timeout=5)
    assert "nom: Extra inputs are not permitted" in str(raised.value)
    assert greet.CALLS == []


def test_a_reply_list_outside_the_project_s_prefix_is_not_written(client: redis.Redis) -> None:
    app = registered()
    with worker(GREETER):
        result = app.send_task(
            "greeter.v1.greet",
            kwargs={"payload": {"name": "ada"}},
            queue=GREETER,
            headers={"purista": {"reply_to": "victim"}},
        )
        assert result.get(timeout=5)["name"] == "ada"
    assert client.exists("victim") == 0


# ---------------------------------------------------------------------------- emit


def test_emit_sends_one_message_per_subscription_queue(client: redis.Redis) -> None:
    first = Message.first(principal_id="user-7")
    get_bridge().emit("greeted", {"name": "ada"}, first)
    assert (client.llen(AUDIT), client.llen(COUNT)) == (1, 1)
    ids = set()
    for queue, task in ((AUDIT, "greeter.v1.audit"), (COUNT, "shouter.v1.count")):
        (sent,) = envelopes(client, queue)
        header = sent["headers"]["purista"]
        assert sent["headers"]["task"] == task
        assert body(sent)[:2] == [[], {"payload": {"name": "ada"}}]
        assert (header["trace_id"], header["principal_id"]) == (first.trace_id, "user-7")
        assert header["message_id"] == sent["headers"]["id"]
        assert "reply_to" not in header
        ids.add(header["message_id"])
    assert len(ids) == 2
    assert first.message_id not in ids


def test_an_event_with_no_routes_sends_nothing(client: redis.Redis) -> None:
    get_bridge().emit("ignored", {"name": "ada"}, Message.first())
    get_bridge().emit("nobody-knows-it", {"name": "ada"}, Message.first())
    assert client.dbsize() == 0


def test_the_success_event_of_greet_reaches_both_subscriptions() -> None:
    first = Message.first(tenant_id="acme")
    with worker(GREETER, AUDIT, COUNT):
        get_bridge().invoke(GREET, {"name": "ada"}, GreetOutput, first)
        assert wait_for(lambda: len(audit.CALLS) == len(count.CALLS) == 1, 5)
    for (call,) in (audit.CALLS, count.CALLS):
        assert call["name"] == "ada"
        assert (call["message"].trace_id, call["message"].tenant_id) == (first.trace_id, "acme")


# ------------------------------------------------------------------------- enqueue


def test_enqueue_stores_a_job_with_the_producer_s_header(client: redis.Redis) -> None:
    first = Message.first(principal_id="user-7")
    bridge = get_bridge()
    job_id = bridge.enqueue(QUEUES["work"], {"task": "ok"}, first)
    record = get_jobs().get(job_id)
    assert record is not None
    assert (record["status"], record["payload"]) == ("queued", {"task": "ok"})
    assert record["message"]["trace_id"] == first.trace_id
    assert record["message"]["message_id"] == first.message_id
    assert record["message"]["principal_id"] == "user-7"
    assert isinstance(record["message"]["trace_context"], dict)
    keyed = bridge.enqueue(QUEUES["work"], {"task": "ok"}, first, idempotency_key="k")
    assert bridge.enqueue(QUEUES["work"], {"task": "again"}, first, idempotency_key="k") == keyed
    delayed = get_jobs().get(bridge.enqueue(QUEUES["work"], {"task": "ok"}, first, delay=30))
    assert delayed is not None
    assert delayed["status"] == "scheduled"


# ------------------------------------------------------------ error_record, rebuild_error


class RefusedError(Exception):
    """An error whose constructor takes other arguments than its message."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"refused ({code}): {reason}")
        self.code = code


class CodedError(Exception):
    """An error whose message comes from an attribute its constructor sets."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code

    def __str__(self) -> str:
        return f"code {self.code}"


class Outer:
    class InnerError(Exception):
        """An error class nested in a class."""


def round_trip(exc: Exception) -> Exception:
    return rebuild_error(json.loads(json.dumps(error_record(exc))))


def test_error_record_names_type_module_message_and_json_args() -> None:
    assert error_record(KeyError("k")) == {
        "type": "KeyError",
        "module": "builtins",
        "message": "'k'",
        "args": ["k"],
    }
    assert error_record(shout.HoarseError("no voice left"))["module"] == (
        "runtime_double.handlers.shout"
    )
    assert "args" not in error_record(ValueError(object()))


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("bad"),
        KeyError("k"),
        FileNotFoundError(2, "No such file"),
        errors.InvalidPayload("payload is invalid: name: Field required"),
        errors.InvokeTimeout("x did not answer"),
        shout.HoarseError("no voice left"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_known_error_comes_back_as_its_own_class(exc: Exception) -> None:
    rebuilt = round_trip(exc)
    assert type(rebuilt) is type(exc)
    assert str(rebuilt) == str(exc)
    assert rebuilt.args == exc.args


def test_an_error_whose_args_are_not_json_keeps_its_message() -> None:
    thing = object()
    rebuilt = round_trip(ValueError(thing))
    assert type(rebuilt) is ValueError
    assert str(rebuilt) == str(thing)


@pytest.mark.parametrize(
    "record",
    [
        {"type": "Vanished", "module": "no.such.module", "message": "gone"},
        {"type": "Vanished", "module": "builtins", "message": "gone"},
        {"type": "Path", "module": "pathlib", "message": "gone"},  # not an exception
    ],
)
def test_an_unknown_error_becomes_a_remote_error_of_the_same_name(record: dict[str, str]) -> None:
    rebuilt = rebuild_error(record)
    assert isinstance(rebuilt, errors.RemoteError)
    assert type(rebuilt).__name__ == record["type"]
    assert str(rebuilt) == "gone"


def test_an_empty_record_is_a_remote_error() -> None:
    rebuilt = rebuild_error({})
    assert type(rebuilt).__name__ == "RemoteError"
    assert isinstance(rebuilt, errors.RemoteError)


def test_a_class_with_another_constructor_keeps_its_type_and_message() -> None:
    refused = round_trip(RefusedError(7, "busy"))
    assert isinstance(refused, RefusedError)
    assert str(refused) == "refused (7): busy"
    coded = round_trip(CodedError(7))
    assert isinstance(coded, CodedError)
    assert type(coded).__name__ == "CodedError"
    assert str(coded) == "code 7"
    missing = round_trip(FileNotFoundError(2, "No such file", "/x"))  # the name is no arg
    assert isinstance(missing, FileNotFoundError)
    assert type(missing).__name__ == "FileNotFoundError"
    assert str(missing) == "[Errno 2] No such file: '/x'"
    decode = round_trip(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"))
    assert isinstance(decode, UnicodeDecodeError)
    assert str(decode) == "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"


def test_a_nested_error_class_comes_back_as_itself() -> None:
    rebuilt = round_trip(Outer.InnerError("inside"))
    assert type(rebuilt) is Outer.InnerError


def test_a_plain_client_sees_a_remote_error_by_its_own_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An invoked command's error that the invoker re-raises keeps its name for everyone."""
    record = {"type": "UnknownUserError", "module": "billing.errors", "message": "no user 7"}

    def handle(context: Any, payload: Any) -> None:
        raise rebuild_error(record)  # as `context.invoke...` raises it, unknown here

    monkeypatch.setitem(runner._handlers, "runtime_double.handlers.greet", handle)
    app = registered()
    with worker(GREETER):
        result = app.send_task("greeter.v1.greet", kwargs={"payload": {"name": "x"}}, queue=GREETER)
        with pytest.raises(Exception) as raised:
            result.get(timeout=5)
    assert type(raised.value).__name__ == "UnknownUserError"
    assert str(raised.value) == "no user 7"
    assert result.traceback is not None and "RemoteError" not in result.traceback.splitlines()[-1]
