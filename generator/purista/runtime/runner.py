# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""Running a handler: validate what comes in, call the user's code, validate what goes out.

Workers and the in-process bridge both run handlers through `execute`, so a test
through the in-process bridge exercises the same path as production.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from opentelemetry.trace import SpanKind
from pydantic import BaseModel

from . import telemetry, wire
from .bridge import Bridge
from .context import Context, Message
from .info import service_key
from .jobs import Job
from .project import QUEUES, SERVICES
from .states import States


@dataclass(frozen=True)
class Binding:
    """A handler and everything generated around it."""

    kind: Literal["command", "subscription", "queue"]
    name: str
    task: str
    queue: str
    service: str
    version: int
    module: str
    payload: type[BaseModel]
    output: type[BaseModel] | None
    context: Callable[..., Context]
    timeout: float  # how long one run may take (a job queue: its lease)
    success_event: str | None = None
    success_model: type[BaseModel] | None = None

    @property
    def service_key(self) -> str:
        """`<service>.v<N>`: the version of the service the handler belongs to."""
        return service_key(self.service, self.version)

    def handler(self) -> Callable[..., Any]:
        """The user's `handle` function (imported on first use)."""
        return _load(self.module)


def service_bindings(service: str) -> tuple[Binding, ...]:
    """The handlers of a `<service>.v<N>` (its generated tasks module, imported on first use)."""
    return tuple(importlib.import_module(SERVICES[service].tasks_module).BINDINGS)


def job_binding(queue: str) -> Binding:
    """The handler of a job queue."""
    return next(
        b
        for b in service_bindings(QUEUES[queue].service_key)
        if b.kind == "queue" and b.task == queue
    )


_handlers: dict[str, Callable[..., Any]] = {}
_local = threading.local()


def _load(module: str) -> Callable[..., Any]:
    handler = _handlers.get(module)
    if handler is None:
        handler = importlib.import_module(module).handle
        _handlers[module] = handler
    return handler


def execute(
    binding: Binding,
    payload: Any,
    message: Message,
    bridge: Bridge,
    states: States,
    *,
    job: tuple[str, int] | None = None,
) -> Any:
    """Run one message through its handler, in a span of its own, counted in the metrics.

    Returns the output's JSON object for a command, the (JSON) result for a job,
    None for a subscription. `job` is the job's id and attempt, for job handlers.
    """
    labels = _labels(binding)
    attributes: dict[str, str | int] = {
        **labels.handler,
        "messaging.destination.name": binding.queue,
    }
    if message.principal_id is not None:
        attributes["purista.principal_id"] = message.principal_id
    if message.tenant_id is not None:
        attributes["purista.tenant_id"] = message.tenant_id
    if job is not None:
        attributes["purista.attempt"] = job[1]
    started = time.perf_counter()
    failed = True
    try:
        with telemetry.tracer.start_as_current_span(
            f"{binding.kind} {binding.task}", kind=SpanKind.CONSUMER, attributes=attributes
        ):
            result = _execute(binding, payload, message, bridge, states, job=job)
        failed = False
        return result
    finally:
        telemetry.record_message(labels, time.perf_counter() - started, failed=failed)


@functools.cache
def _labels(binding: Binding) -> telemetry.Labels:
    return telemetry.Labels.of(
        {
            "purista.service": binding.service,
            "purista.version": str(binding.version),
            f"purista.{binding.kind}": binding.name,
        }
    )


def _execute(
    binding: Binding,
    payload: Any,
    message: Message,
    bridge: Bridge,
    states: States,
    *,
    job: tuple[str, int] | None,
) -> Any:
    model = wire.parse(binding.payload, payload, "payload")
    context = binding.context(name=binding.task, bridge=bridge, message=message, states=states)
    if binding.kind == "queue":
        job_id, attempt = job if job is not None else (message.message_id, 1)
        result = binding.handler()(context, Job(job_id, model, attempt))
    else:
        result = binding.handler()(context, model)
    if inspect.isawaitable(result):
        result = run_coroutine(result)
    if binding.kind == "queue":
        return job_result(result)
    if binding.output is None:
        return None
    output = wire.to_wire(binding.output, result, "output")
    if binding.success_event is not None and binding.success_model is not None:
        event = wire.to_wire(binding.success_model, output, f"event {binding.success_event}")
        bridge.emit(binding.success_event, event, message)
    return output


def job_result(result: Any) -> Any:
    """A job handler's return value as JSON (models dumped), or a clear error."""
    if isinstance(result, BaseModel):
        return wire.dump(result)
    try:
        json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"a job's result must be JSON-serialisable: {exc}") from None
    return result


def run_coroutine(awaitable: Any) -> Any:
    """Await an async handler on this thread's own event loop (kept for the thread's life)."""
    runner = getattr(_local, "runner", None)
    if runner is None:
        runner = _local.runner = asyncio.Runner()

    async def wait() -> Any:
        return await awaitable

    return runner.run(wait())
