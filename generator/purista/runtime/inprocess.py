# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""Bridges that need no Redis: one records and answers from stubs, one runs everything here."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from pydantic import BaseModel

from . import wire
from .context import Message
from .info import CommandInfo, QueueInfo
from .project import EVENT_ROUTES, SERVICES
from .runner import Binding, execute, service_bindings
from .states import MemoryStates

logger = logging.getLogger(__name__)
OutputT = TypeVar("OutputT", bound=BaseModel)
Answer = Mapping[str, Any] | BaseModel | BaseException | Callable[[dict[str, Any]], Any]


def bindings() -> dict[str, Binding]:
    """Every handler of the project, by task name."""
    return {b.task: b for service in SERVICES for b in service_bindings(service)}


@dataclass(frozen=True)
class Enqueued:
    """A job a handler enqueued."""

    queue: str
    payload: dict[str, Any]
    id: str
    delay: float | None
    idempotency_key: str | None


class RecordingBridge:
    """Records every invoke and emit; an invoke is answered by the stub given for its command."""

    def __init__(self) -> None:
        self.invoked: list[tuple[str, dict[str, Any]]] = []
        self.emitted: list[tuple[str, dict[str, Any]]] = []
        self.enqueued: list[Enqueued] = []
        self.messages: list[Message] = []
        self._stubs: dict[str, Answer] = {}
        self._keys: dict[tuple[str, str], str] = {}

    def stub(self, command: str, answer: Answer) -> None:
        """Answer invokes of `command` (`<service>.v<N>.<name>`): an output, error or function."""
        self._stubs[command] = answer

    def invoke(
        self, target: CommandInfo, payload: dict[str, Any], output: type[OutputT], message: Message
    ) -> OutputT:
        """Record the invoke and answer it from its stub."""
        sent = message.next()
        self.invoked.append((target.task, payload))
        self.messages.append(sent)
        answer = self._answer(target, payload, sent)
        return wire.parse(output, answer, f"output of {target.task}")

    def emit(self, event: str, payload: dict[str, Any], message: Message) -> None:
        """Record the event."""
        self.emitted.append((event, payload))
        self.messages.append(message.next())

    def enqueue(
        self,
        queue: QueueInfo,
        payload: dict[str, Any],
        message: Message,
        *,
        delay: float | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """Record the job; the same idempotency key on the same queue gives the first job's id."""
        if idempotency_key is not None and (queue.name, idempotency_key) in self._keys:
            return self._keys[queue.name, idempotency_key]
        sent = message.next()
        self.enqueued.append(Enqueued(queue.name, payload, sent.message_id, delay, idempotency_key))
        self.messages.append(sent)
        if idempotency_key is not None:
            self._keys[queue.name, idempotency_key] = sent.message_id
        return sent.message_id

    def _answer(self, target: CommandInfo, payload: dict[str, Any], message: Message) -> Any:
        if target.task not in self._stubs:
            raise LookupError(
                f"no stub for {target.task}; call bridge.stub({target.task!r}, output)"
            )
        answer = self._stubs[target.task]
        if isinstance(answer, BaseException):
            raise answer
        if callable(answer):
            return answer(payload)
        return answer


class InProcessBridge(RecordingBridge):
    """Every service in this process, synchronously: PURISTA's in-memory event bridge.

    An invoke without a stub runs the command's handler; an event runs every
    subscription of it before `emit` returns; an enqueued job runs once the
    handler that enqueued it has returned (delays are not waited for, and a
    failing job raises instead of being retried). Each service has its own
    in-memory state store with the spec's TTL.
    """

    def __init__(self) -> None:
        super().__init__()
        self.bindings = bindings()
        self.states = {name: MemoryStates(info.state_ttl) for name, info in SERVICES.items()}
        self._jobs: deque[tuple[Enqueued, Message]] = deque()
        self.failures: list[tuple[str, Exception]] = []

    def run(
        self,
        task: str,
        payload: Any,
        *,
        principal_id: str | None = None,
        tenant_id: str | None = None,
    ) -> Any:
        """Run a command, subscription or job handler as a flow's first message, then its jobs."""
        result = self.handle(task, payload, principal_id=principal_id, tenant_id=tenant_id)
        self.run_jobs()
        return result

    def handle(
        self,
        task: str,
        payload: Any,
        *,
        principal_id: str | None = None,
        tenant_id: str | None = None,
    ) -> Any:
        """Run a handler as a flow's first message; the jobs it enqueues wait for `run_jobs`."""
        return self._run(task, payload, Message.first(principal_id, tenant_id))

    def run_jobs(self) -> None:
        """Run every enqueued job (and the jobs those enqueue) until none is left."""
        while self._jobs:
            job, message = self._jobs.popleft()
            self._run(job.queue, job.payload, replace(message, message_id=job.id), job=(job.id, 1))

    def enqueue(
        self,
        queue: QueueInfo,
        payload: dict[str, Any],
        message: Message,
        *,
        delay: float | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """Record the job and run it after the current handler."""
        count = len(self.enqueued)
        job_id = super().enqueue(
            queue, payload, message, delay=delay, idempotency_key=idempotency_key
        )
        if len(self.enqueued) > count:
            self._jobs.append((self.enqueued[-1], message))
        return job_id

    def _answer(self, target: CommandInfo, payload: dict[str, Any], message: Message) -> Any:
        if target.task in self._stubs:
            return super()._answer(target, payload, message)
        return self._run(target.task, payload, message)

    def emit(self, event: str, payload: dict[str, Any], message: Message) -> None:
        """Record the event and deliver it to every subscription.

        As on real workers, a failing subscription fails neither the publisher nor
        the other subscriptions: its error is logged and kept in `failures`.
        """
        super().emit(event, payload, message)
        for route in EVENT_ROUTES.get(event, ()):
            try:
                self._run(route.task, payload, message.next())
            except Exception as exc:
                logger.exception("subscription %s failed on event %s", route.task, event)
                self.failures.append((route.task, exc))

    def _run(
        self, task: str, payload: Any, message: Message, job: tuple[str, int] | None = None
    ) -> Any:
        binding = self.bindings[task]
        return execute(binding, payload, message, self, self.states[binding.service_key], job=job)
