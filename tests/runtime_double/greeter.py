"""Service greeter v1 of the double: its typed contexts and task bindings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from purista.runtime import wire
from purista.runtime.bridge import Bridge
from purista.runtime.context import Context, Message, Outbox
from purista.runtime.jobs import Job
from purista.runtime.project import COMMANDS, QUEUES
from purista.runtime.runner import Binding
from purista.runtime.states import States

from runtime_double import models


class _ShouterV1(Outbox):
    def shout(self, payload: models.ShoutPayload | Mapping[str, Any]) -> models.ShoutOutput:
        data = wire.to_wire(models.ShoutPayload, payload, "payload of shouter.v1.shout")
        return self._bridge.invoke(
            COMMANDS["shouter.v1.shout"], data, models.ShoutOutput, self._message
        )


class _Shouter(Outbox):
    def __init__(self, bridge: Bridge, message: Message) -> None:
        super().__init__(bridge, message)
        self.v1 = _ShouterV1(bridge, message)


class GreetInvoke(Outbox):
    def __init__(self, bridge: Bridge, message: Message) -> None:
        super().__init__(bridge, message)
        self.shouter = _Shouter(bridge, message)


class GreetEmit(Outbox):
    def greeted(self, payload: models.GreetedEvent | Mapping[str, Any]) -> None:
        data = wire.to_wire(models.GreetedEvent, payload, "event greeted")
        self._bridge.emit("greeted", data, self._message)


class _Enqueue(Outbox):
    def work(
        self,
        payload: models.WorkJob | Mapping[str, Any],
        *,
        delay: float | None = None,
        idempotency_key: str | None = None,
    ) -> Job[models.WorkJob]:
        job = wire.parse(models.WorkJob, payload, "job work")
        job_id = self._bridge.enqueue(
            QUEUES["work"],
            wire.dump(job),
            self._message,
            delay=delay,
            idempotency_key=idempotency_key,
        )
        return Job(job_id, job)


class GreetQueue(Outbox):
    def __init__(self, bridge: Bridge, message: Message) -> None:
        super().__init__(bridge, message)
        self.enqueue = _Enqueue(bridge, message)


class GreetContext(Context):
    def __init__(self, *, name: str, bridge: Bridge, message: Message, states: States) -> None:
        super().__init__(name=name, bridge=bridge, message=message, states=states)
        self.invoke = GreetInvoke(bridge, message)
        self.emit = GreetEmit(bridge, message)
        self.queue = GreetQueue(bridge, message)


BINDINGS: tuple[Binding, ...] = (
    Binding(
        kind="command",
        name="greet",
        task="greeter.v1.greet",
        queue="rtdouble.greeter.v1",
        service="greeter",
        version=1,
        module="runtime_double.handlers.greet",
        payload=models.GreetPayload,
        output=models.GreetOutput,
        context=GreetContext,
        timeout=3.0,
        success_event="greeted",
        success_model=models.GreetedEvent,
    ),
    Binding(
        kind="subscription",
        name="audit",
        task="greeter.v1.audit",
        queue="rtdouble.greeter.v1.audit",
        service="greeter",
        version=1,
        module="runtime_double.handlers.audit",
        payload=models.GreetedEvent,
        output=None,
        context=Context,
        timeout=5.0,
    ),
    Binding(
        kind="queue",
        name="work",
        task="work",
        queue="rtdouble:jobs:work",
        service="greeter",
        version=1,
        module="runtime_double.handlers.work",
        payload=models.WorkJob,
        output=None,
        context=GreetContext,
        timeout=2.0,
    ),
)
