"""Message metadata, the handler's context and the outboxes (`purista.runtime.context`)."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import pytest
from purista.runtime.context import Context, Message, Outbox
from purista.runtime.inprocess import RecordingBridge
from purista.runtime.states import MemoryStates

# ----------------------------------------------------------------------- Message


def test_first_starts_a_flow_whose_trace_is_its_message() -> None:
    message = Message.first("user-1", "tenant-1")
    assert message.trace_id == message.message_id
    assert len(message.message_id) == 32
    int(message.message_id, 16)
    assert (message.principal_id, message.tenant_id) == ("user-1", "tenant-1")
    assert Message.first().message_id != Message.first().message_id
    assert (Message.first().principal_id, Message.first().tenant_id) == (None, None)


def test_next_keeps_the_flow_and_takes_a_new_message_id() -> None:
    first = Message.first("user-1", "tenant-1")
    second = first.next()
    third = second.next()
    assert len({first.message_id, second.message_id, third.message_id}) == 3
    for sent in (second, third):
        assert (sent.trace_id, sent.principal_id, sent.tenant_id) == (
            first.message_id,
            "user-1",
            "tenant-1",
        )


def test_to_header_and_back_is_the_same_message() -> None:
    message = Message.first("user-1", None).next()
    header = message.to_header()
    assert header == {
        "message_id": message.message_id,
        "trace_id": message.trace_id,
        "principal_id": "user-1",
        "tenant_id": None,
        "occurrence_id": None,
    }
    assert Message.from_header(header, "celery-task-id") == message


def test_the_occurrence_of_a_schedule_follows_the_flow() -> None:
    fired = replace(Message.first(), occurrence_id="nightly@2026-03-29T01:00:00Z")
    sent = fired.next()
    assert sent.occurrence_id == "nightly@2026-03-29T01:00:00Z" != fired.message_id
    assert Message.from_header(sent.to_header(), "task-1") == sent


@pytest.mark.parametrize("header", [None, "purista", ["message_id", "m"], 7])
def test_a_foreign_or_missing_header_starts_a_new_flow_with_the_given_id(header: Any) -> None:
    assert Message.from_header(header, "task-1") == Message("task-1", "task-1", None, None)


def test_from_header_fills_what_is_missing_or_empty_with_the_given_id() -> None:
    assert Message.from_header({"trace_id": "tr"}, "task-1") == Message("task-1", "tr")
    assert Message.from_header({"message_id": "", "trace_id": ""}, "task-1") == Message(
        "task-1", "task-1"
    )


def test_from_header_stringifies_its_values() -> None:
    message = Message.from_header(
        {"message_id": 12, "trace_id": 3.5, "principal_id": 42, "tenant_id": False}, "task-1"
    )
    assert message == Message("12", "3.5", "42", "False")


# ----------------------------------------------------------------------- Context


def test_context_holds_the_message_states_and_bridge() -> None:
    bridge, states, message = RecordingBridge(), MemoryStates(), Message.first()
    context = Context(name="greeter.v1.greet", bridge=bridge, message=message, states=states)
    assert context.message is message
    assert context.states is states
    assert context._bridge is bridge


def test_the_context_logger_carries_the_message_and_trace_ids(
    caplog: pytest.LogCaptureFixture,
) -> None:
    message = Message.first().next()
    context = Context(
        name="greeter.v1.greet", bridge=RecordingBridge(), message=message, states=MemoryStates()
    )
    with caplog.at_level(logging.INFO, logger="greeter.v1.greet"):
        context.logger.info("greeting %s", "ann")
    (record,) = caplog.records
    assert record.name == "greeter.v1.greet"
    assert record.getMessage() == "greeting ann"
    assert record.purista_message_id == message.message_id  # type: ignore[attr-defined]
    assert record.purista_trace_id == message.trace_id  # type: ignore[attr-defined]
    assert record.purista_message_id != record.purista_trace_id  # type: ignore[attr-defined]


# ------------------------------------------------------------------------ Outbox


def test_an_outbox_keeps_its_bridge_and_message() -> None:
    bridge, message = RecordingBridge(), Message.first()
    outbox = Outbox(bridge, message)
    assert outbox._bridge is bridge
    assert outbox._message is message


def test_an_outbox_sends_through_its_bridge_as_the_next_message() -> None:
    class Emit(Outbox):
        def greeted(self, name: str) -> None:
            self._bridge.emit("greeted", {"name": name}, self._message)

    bridge, message = RecordingBridge(), Message.first("user-1")
    Emit(bridge, message).greeted("ann")
    assert bridge.emitted == [("greeted", {"name": "ann"})]
    (sent,) = bridge.messages
    assert (sent.trace_id, sent.principal_id) == (message.trace_id, "user-1")
    assert sent.message_id != message.message_id
