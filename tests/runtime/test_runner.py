"""Running a handler: validation in and out, success events, jobs, async handlers (`runner`)."""

from __future__ import annotations

import asyncio
import math
import threading
from dataclasses import replace
from typing import Any

import pytest
from purista.runtime import runner
from purista.runtime.context import Message
from purista.runtime.errors import InvalidPayload
from purista.runtime.inprocess import RecordingBridge
from purista.runtime.jobs import Job
from purista.runtime.runner import Binding, execute, job_binding, job_result, service_bindings
from purista.runtime.states import MemoryStates
from runtime_double import greeter, models, shouter
from runtime_double.handlers import audit, count, greet, work
from runtime_double.handlers import shout as shout_handler

GREET, AUDIT, WORK = greeter.BINDINGS
SHOUT, COUNT = shouter.BINDINGS


def run(binding: Binding, payload: Any, **kwargs: Any) -> tuple[Any, RecordingBridge, Message]:
    bridge, message = RecordingBridge(), Message.first("user-1", "tenant-1")
    return execute(binding, payload, message, bridge, MemoryStates(), **kwargs), bridge, message


# ------------------------------------------------------------------------ command


def test_a_command_returns_its_validated_output() -> None:
    output, bridge, message = run(SHOUT, {"text": "hi"})
    assert output == {"text": "HI"}
    (call,) = shout_handler.CALLS
    assert call["payload"] == models.ShoutPayload(text="hi")
    assert call["message"] is message
    assert bridge.emitted == []


def test_the_handler_gets_its_generated_context(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    def handle(context: Any, payload: Any) -> dict[str, str]:
        seen.append(context)
        return {"greeting": "hi", "name": payload.name}

    bridge, states, message = RecordingBridge(), MemoryStates(), Message.first()
    binding = replace(GREET, success_event=None)
    monkeypatch.setitem(runner._handlers, binding.module, handle)
    execute(binding, {"name": "ann"}, message, bridge, states)
    (context,) = seen
    assert isinstance(context, greeter.GreetContext)
    assert (context.message, context.states, context._bridge) == (message, states, bridge)
    assert context.logger.logger.name == "greeter.v1.greet"


def test_a_command_may_return_its_output_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def handle(context: Any, payload: Any) -> models.ShoutOutput:
        return models.ShoutOutput(text=payload.text * 2)

    monkeypatch.setitem(runner._handlers, SHOUT.module, handle)
    output, _, _ = run(SHOUT, models.ShoutPayload(text="ab"))
    assert output == {"text": "abab"}


def test_the_success_event_is_emitted_with_the_output() -> None:
    output, bridge, message = run(GREET, {"name": "ann"})
    assert output == {"greeting": "hello ann", "name": "ann"}
    assert bridge.emitted == [("greeted", {"name": "ann"})]
    (sent,) = bridge.messages
    assert (sent.trace_id, sent.principal_id, sent.tenant_id) == (
        message.trace_id,
        "user-1",
        "tenant-1",
    )


def test_an_invalid_payload_raises_before_the_handler_runs() -> None:
    with pytest.raises(InvalidPayload, match=r"^payload is invalid: name: Field required$"):
        run(GREET, {"shout": True})
    with pytest.raises(InvalidPayload, match=r"^payload must be a JSON object, not list$"):
        run(GREET, ["ann"])
    assert greet.CALLS == []


def test_an_invalid_output_raises_and_emits_nothing() -> None:
    bridge = RecordingBridge()
    wrong = replace(GREET, output=models.ShoutOutput)
    with pytest.raises(InvalidPayload, match=r"^output is invalid: text: Field required$"):
        execute(wrong, {"name": "ann"}, Message.first(), bridge, MemoryStates())
    assert len(greet.CALLS) == 1
    assert bridge.emitted == []


def test_an_output_that_does_not_make_the_event_raises() -> None:
    bridge = RecordingBridge()
    wrong = replace(GREET, success_model=models.ShoutPayload)
    with pytest.raises(InvalidPayload, match=r"^event greeted is invalid: text: Field required$"):
        execute(wrong, {"name": "ann"}, Message.first(), bridge, MemoryStates())
    assert bridge.emitted == []


def test_a_handler_error_is_raised_unchanged() -> None:
    with pytest.raises(ValueError, match=r"^boom$"):
        run(GREET, {"name": "ann", "fail": "boom"})


# ------------------------------------------------------------------ subscription


def test_a_subscription_returns_none() -> None:
    result, bridge, message = run(AUDIT, {"name": "ann"})
    assert result is None
    assert [(c["name"], c["message"]) for c in audit.CALLS] == [("ann", message)]
    assert bridge.emitted == []


def test_an_async_handler_is_awaited() -> None:
    result, _, message = run(COUNT, models.GreetedEvent(name="ann"))
    assert result is None
    assert [(c["name"], c["message"]) for c in count.CALLS] == [("ann", message)]


# -------------------------------------------------------------------------- job


def test_a_job_handler_gets_the_job(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    def handle(context: Any, job: Any) -> models.WorkJob:
        seen.append(job)
        return models.WorkJob(task="done")

    monkeypatch.setitem(runner._handlers, WORK.module, handle)
    result, _, _ = run(WORK, {"task": "t"}, job=("job-1", 3))
    assert seen == [Job("job-1", models.WorkJob(task="t"), 3)]
    assert result == {"task": "done", "seconds": 0.0}  # a model result is dumped with its defaults


def test_a_job_without_an_id_is_the_first_attempt_of_the_message() -> None:
    result, _, message = run(WORK, {"task": "ok"})
    assert [(c["id"], c["attempt"], c["task"]) for c in work.CALLS] == [
        (message.message_id, 1, "ok")
    ]
    assert result == {"done": message.message_id}


def test_job_result_dumps_models_and_passes_json() -> None:
    assert job_result(models.GreetOutput(greeting="hi", name="ann")) == {
        "greeting": "hi",
        "name": "ann",
    }
    assert job_result({"n": [1, None]}) == {"n": [1, None]}
    assert job_result(None) is None


def test_job_result_refuses_what_is_not_json() -> None:
    with pytest.raises(TypeError, match=r"^a job's result must be JSON-serialisable: "):
        job_result({"at": object()})


def test_job_result_refuses_nan() -> None:
    with pytest.raises(TypeError, match="JSON-serialisable"):
        job_result({"ratio": math.nan})


def test_a_job_returning_what_is_not_json_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def handle(context: Any, job: Any) -> Any:
        return {1, 2}

    monkeypatch.setitem(runner._handlers, WORK.module, handle)
    with pytest.raises(TypeError, match="JSON-serialisable"):
        run(WORK, {"task": "t"})


# ---------------------------------------------------------------- run_coroutine


def test_run_coroutine_keeps_one_event_loop_per_thread() -> None:
    async def loop() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    first, second = runner.run_coroutine(loop()), runner.run_coroutine(loop())
    assert first is second
    assert not first.is_closed()
    other: list[asyncio.AbstractEventLoop] = []
    thread = threading.Thread(
        target=lambda: other.extend(runner.run_coroutine(loop()) for _ in "ab")
    )
    thread.start()
    thread.join()
    assert other[0] is other[1]
    assert other[0] is not first


def test_run_coroutine_returns_the_result_or_raises() -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    async def fail() -> None:
        raise KeyError("k")

    assert runner.run_coroutine(answer()) == 42
    with pytest.raises(KeyError):
        runner.run_coroutine(fail())


# ---------------------------------------------------------------------- bindings


def test_service_bindings_are_the_generated_ones() -> None:
    assert service_bindings("greeter.v1") == greeter.BINDINGS
    assert service_bindings("shouter.v1") == shouter.BINDINGS
    assert [b.task for b in service_bindings("greeter.v1")] == [
        "greeter.v1.greet",
        "greeter.v1.audit",
        "work",
    ]
    with pytest.raises(KeyError):
        service_bindings("nobody")


def test_job_binding_finds_the_queue_handler() -> None:
    binding = job_binding("work")
    assert binding is WORK
    assert (binding.kind, binding.payload, binding.context) == (
        "queue",
        models.WorkJob,
        greeter.GreetContext,
    )
    with pytest.raises(KeyError):
        job_binding("nowhere")


def test_binding_handler_is_the_module_handle_function() -> None:
    assert GREET.handler() is greet.handle
    assert COUNT.handler() is count.handle
    assert AUDIT.handler() is audit.handle
