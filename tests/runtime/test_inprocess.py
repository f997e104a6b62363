"""Bridges without Redis, and the helpers of `<package>.testing` (`inprocess`, `testing`)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from purista.runtime import runner, testing
from purista.runtime.context import Message
from purista.runtime.errors import InvalidPayload
from purista.runtime.inprocess import Enqueued, InProcessBridge, RecordingBridge, bindings
from purista.runtime.project import COMMANDS, QUEUES
from purista.runtime.states import MemoryStates
from runtime_double import greeter, models, shouter
from runtime_double.handlers import audit, count, greet, shout, work

SHOUT = COMMANDS["shouter.v1.shout"]
WORK = QUEUES["work"]


def invoke(bridge: RecordingBridge, text: str = "hi", message: Message | None = None) -> Any:
    return bridge.invoke(SHOUT, {"text": text}, models.ShoutOutput, message or Message.first())


def test_bindings_are_every_handler_by_task() -> None:
    found = bindings()
    assert sorted(found) == sorted(b.task for b in greeter.BINDINGS + shouter.BINDINGS)
    assert found["shouter.v1.count"] is shouter.BINDINGS[1]


# ------------------------------------------------------------------ RecordingBridge


def test_a_stubbed_output_answers_the_invoke() -> None:
    bridge = RecordingBridge()
    bridge.stub("shouter.v1.shout", {"text": "STUBBED"})
    assert invoke(bridge) == models.ShoutOutput(text="STUBBED")
    bridge.stub("shouter.v1.shout", models.ShoutOutput(text="MODEL"))
    assert invoke(bridge) == models.ShoutOutput(text="MODEL")
    assert shout.CALLS == []


def test_a_stubbed_exception_is_raised() -> None:
    bridge = RecordingBridge()
    error = TimeoutError("slow")
    bridge.stub("shouter.v1.shout", error)
    with pytest.raises(TimeoutError) as caught:
        invoke(bridge)
    assert caught.value is error
    assert bridge.invoked == [("shouter.v1.shout", {"text": "hi"})]


def test_a_stubbed_function_gets_the_payload() -> None:
    bridge = RecordingBridge()
    bridge.stub("shouter.v1.shout", lambda payload: {"text": payload["text"] + "!"})
    assert invoke(bridge, "hey") == models.ShoutOutput(text="hey!")


def test_a_stubbed_answer_is_validated_as_the_output() -> None:
    bridge = RecordingBridge()
    bridge.stub("shouter.v1.shout", {"txt": "typo"})
    with pytest.raises(InvalidPayload, match=r"^output of shouter.v1.shout is invalid: text: "):
        invoke(bridge)


def test_an_invoke_without_a_stub_says_how_to_stub_it() -> None:
    bridge = RecordingBridge()
    with pytest.raises(LookupError) as caught:
        invoke(bridge)
    assert str(caught.value) == (
        "no stub for shouter.v1.shout; call bridge.stub('shouter.v1.shout', output)"
    )
    assert bridge.invoked == [("shouter.v1.shout", {"text": "hi"})]


def test_the_recording_bridge_records_what_it_sends() -> None:
    bridge = RecordingBridge()
    bridge.stub("shouter.v1.shout", {"text": "X"})
    message = Message.first("user-1", "tenant-1")
    invoke(bridge, "a", message)
    bridge.emit("greeted", {"name": "ann"}, message)
    job_id = bridge.enqueue(WORK, {"task": "t"}, message, delay=5)
    assert bridge.invoked == [("shouter.v1.shout", {"text": "a"})]
    assert bridge.emitted == [("greeted", {"name": "ann"})]
    assert bridge.enqueued == [Enqueued("work", {"task": "t"}, job_id, 5, None)]
    assert len(bridge.messages) == 3
    assert bridge.messages[2].message_id == job_id
    assert len({m.message_id for m in bridge.messages} | {message.message_id}) == 4
    for sent in bridge.messages:
        assert (sent.trace_id, sent.principal_id, sent.tenant_id) == (
            message.trace_id,
            "user-1",
            "tenant-1",
        )


def test_an_idempotency_key_gives_the_first_job_per_queue() -> None:
    bridge = RecordingBridge()
    message = Message.first()
    first = bridge.enqueue(WORK, {"task": "a"}, message, idempotency_key="k")
    again = bridge.enqueue(WORK, {"task": "b"}, message, idempotency_key="k")
    other = bridge.enqueue(WORK, {"task": "c"}, message, idempotency_key="k2")
    unkeyed = [bridge.enqueue(WORK, {"task": "d"}, message) for _ in range(2)]
    assert again == first
    assert len({first, other, *unkeyed}) == 4
    assert [(j.payload["task"], j.idempotency_key) for j in bridge.enqueued] == [
        ("a", "k"),
        ("c", "k2"),
        ("d", None),
        ("d", None),
    ]


def test_a_handler_context_sends_through_the_recording_bridge() -> None:
    bridge = RecordingBridge()
    bridge.stub("shouter.v1.shout", {"text": "LOUD"})
    output = testing.run(
        "greeter.v1.greet", {"name": "ann", "shout": True, "job": True}, bridge=bridge
    )
    assert output == {"greeting": "LOUD", "name": "ann"}
    assert bridge.invoked == [("shouter.v1.shout", {"text": "hello ann"})]
    assert bridge.emitted == [("greeted", {"name": "ann"})]
    assert [(j.queue, j.payload) for j in bridge.enqueued] == [
        ("work", {"task": "ok", "seconds": 0.0})
    ]
    assert work.CALLS == []


# -------------------------------------------------------------------- InProcessBridge


def test_invoke_runs_the_real_handler() -> None:
    bridge = InProcessBridge()
    output = bridge.run("greeter.v1.greet", {"name": "ann", "shout": True})
    assert output == {"greeting": "HELLO ANN", "name": "ann"}
    (call,) = shout.CALLS
    assert call["payload"] == models.ShoutPayload(text="hello ann")
    assert bridge.invoked == [("shouter.v1.shout", {"text": "hello ann"})]


def test_a_stub_still_wins_over_the_real_handler() -> None:
    bridge = InProcessBridge()
    bridge.stub("shouter.v1.shout", {"text": "STUB"})
    assert bridge.run("greeter.v1.greet", {"name": "ann", "shout": True})["greeting"] == "STUB"
    assert shout.CALLS == []


def test_an_invoked_handler_error_reaches_the_caller() -> None:
    bridge = InProcessBridge()
    with pytest.raises(shout.HoarseError, match="no voice left"):
        bridge.run("shouter.v1.shout", {"text": "hoarse"})


def test_emit_runs_every_subscription() -> None:
    bridge = InProcessBridge()
    bridge.run("greeter.v1.greet", {"name": "ann"})
    assert [c["name"] for c in audit.CALLS] == ["ann"]
    assert [c["name"] for c in count.CALLS] == ["ann"]
    assert bridge.emitted == [("greeted", {"name": "ann"})]
    assert bridge.failures == []


def test_a_failing_subscription_fails_neither_the_publisher_nor_the_other(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bridge = InProcessBridge()
    with caplog.at_level(logging.ERROR, logger="purista.runtime.inprocess"):
        output = bridge.run("greeter.v1.greet", {"name": "poison"})
    assert output == {"greeting": "hello poison", "name": "poison"}
    assert [c["name"] for c in audit.CALLS] == ["poison"]
    assert [c["name"] for c in count.CALLS] == ["poison"]
    ((task, error),) = bridge.failures
    assert task == "greeter.v1.audit"
    assert isinstance(error, RuntimeError)
    assert str(error) == "poisoned"
    assert "subscription greeter.v1.audit failed on event greeted" in caplog.text


def test_an_event_without_subscriptions_is_only_recorded() -> None:
    bridge = InProcessBridge()
    bridge.emit("ignored", {}, Message.first())
    assert bridge.emitted == [("ignored", {})]
    assert (audit.CALLS, count.CALLS, bridge.failures) == ([], [], [])


def test_enqueued_jobs_run_after_the_handler() -> None:
    bridge = InProcessBridge()
    message = Message.first()
    bridge._run("greeter.v1.greet", {"name": "ann", "job": True}, message)
    assert len(greet.CALLS) == 1
    assert work.CALLS == []
    bridge.run_jobs()
    (job,) = bridge.enqueued
    assert [(c["id"], c["attempt"], c["task"]) for c in work.CALLS] == [(job.id, 1, "ok")]
    bridge.run_jobs()
    assert len(work.CALLS) == 1


def test_run_runs_the_jobs_before_it_returns() -> None:
    bridge = InProcessBridge()
    bridge.run("greeter.v1.greet", {"name": "ann", "job": True})
    (job,) = bridge.enqueued
    assert [(c["id"], c["attempt"], c["task"]) for c in work.CALLS] == [(job.id, 1, "ok")]


def test_a_failing_job_raises() -> None:
    bridge = InProcessBridge()
    with pytest.raises(RuntimeError, match="failed on attempt 1"):
        bridge.run("work", {"task": "fail"})
    assert len(work.CALLS) == 1


def test_run_carries_principal_and_tenant_to_nested_handlers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job_messages: list[Message] = []

    def handle_work(context: Any, job: Any) -> None:
        job_messages.append(context.message)

    monkeypatch.setitem(runner._handlers, "runtime_double.handlers.work", handle_work)
    bridge = InProcessBridge()
    bridge.run(
        "greeter.v1.greet",
        {"name": "ann", "shout": True, "job": True},
        principal_id="user-1",
        tenant_id="tenant-1",
    )
    messages = [
        greet.CALLS[0]["message"],
        shout.CALLS[0]["message"],
        audit.CALLS[0]["message"],
        count.CALLS[0]["message"],
        *job_messages,
    ]
    assert len(messages) == 5
    assert messages[4].message_id == bridge.enqueued[0].id
    trace = messages[0].trace_id
    for message in messages:
        assert (message.trace_id, message.principal_id, message.tenant_id) == (
            trace,
            "user-1",
            "tenant-1",
        )
    assert len({m.message_id for m in messages}) == 5


def test_each_service_has_its_own_states_with_its_ttl() -> None:
    bridge = InProcessBridge()
    assert set(bridge.states) == {"greeter.v1", "shouter.v1"}
    bridge.states["greeter.v1"].set_state("k", 1)
    assert bridge.states["shouter.v1"].get_state("k") is None
    assert bridge.states["greeter.v1"]._default_ttl == 60
    assert bridge.states["shouter.v1"]._default_ttl is None


# ---------------------------------------------------------------------- testing


def test_testing_reexports_what_it_lists() -> None:
    for name in testing.__all__:
        assert getattr(testing, name) is not None
    assert testing.InProcessBridge is InProcessBridge
    assert testing.MemoryStates is MemoryStates


def test_testing_run_runs_a_command_as_a_worker_would() -> None:
    bridge = RecordingBridge()
    message = Message.first("user-1")
    assert testing.run("greeter.v1.greet", {"name": "ann"}, bridge=bridge, message=message) == {
        "greeting": "hello ann",
        "name": "ann",
    }
    assert greet.CALLS[0]["message"] is message
    assert bridge.emitted == [("greeted", {"name": "ann"})]
    with pytest.raises(InvalidPayload):
        testing.run("greeter.v1.greet", {"name": 3})


def test_testing_run_runs_a_job_as_its_first_attempt() -> None:
    message = Message.first()
    assert testing.run("work", {"task": "ok"}, message=message) == {"done": message.message_id}
    assert [(c["id"], c["attempt"], c["task"]) for c in work.CALLS] == [
        (message.message_id, 1, "ok")
    ]


def test_testing_run_uses_the_given_states() -> None:
    states = MemoryStates()
    assert testing.run("shouter.v1.count", {"name": "ann"}, states=states) is None
    assert count.CALLS[0]["name"] == "ann"


def test_context_for_builds_the_generated_context() -> None:
    context = testing.context_for("greeter.v1.greet")
    assert isinstance(context, greeter.GreetContext)
    assert isinstance(context._bridge, RecordingBridge)
    assert isinstance(context.states, MemoryStates)
    assert context.states._default_ttl == 60
    assert context.message.trace_id == context.message.message_id
    context._bridge.stub("shouter.v1.shout", {"text": "X"})
    assert context.invoke.shouter.v1.shout({"text": "a"}) == models.ShoutOutput(text="X")
    job = context.queue.enqueue.work({"task": "t"}, idempotency_key="k")
    assert job.id == context.queue.enqueue.work({"task": "u"}, idempotency_key="k").id
    assert job.payload == models.WorkJob(task="t")


def test_context_for_uses_what_it_is_given() -> None:
    bridge, states, message = RecordingBridge(), MemoryStates(), Message.first("user-1")
    context = testing.context_for("shouter.v1.count", bridge=bridge, states=states, message=message)
    assert type(context) is shouter.BINDINGS[1].context
    assert (context._bridge, context.states, context.message) == (bridge, states, message)
    with pytest.raises(KeyError):
        testing.context_for("nobody.v1.nothing")
