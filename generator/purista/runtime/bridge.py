# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""How messages leave a handler: invoke and emit over Celery, enqueue into Redis job queues.

Routing is decided here and only here, from the tables the spec produced.
"""

from __future__ import annotations

import builtins
import json
import sys
from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

import redis
from celery import Celery
from opentelemetry.trace import SpanKind
from pydantic import BaseModel

from . import errors, telemetry, wire
from .context import HEADER, Message
from .info import CommandInfo, QueueInfo
from .jobs import JobStore
from .project import EVENT_ROUTES, PROJECT

OutputT = TypeVar("OutputT", bound=BaseModel)

REPLY_PREFIX = f"{PROJECT}:reply:"


class Bridge(Protocol):
    """Sends a handler's messages: the Celery bridge in workers, in-process ones in tests."""

    def invoke(
        self, target: CommandInfo, payload: dict[str, Any], output: type[OutputT], message: Message
    ) -> OutputT:
        """Run a command (the payload already validated) and return its validated output."""
        ...

    def emit(self, event: str, payload: dict[str, Any], message: Message) -> None:
        """Publish an event (the payload already validated) to every subscription."""
        ...

    def enqueue(
        self,
        queue: QueueInfo,
        payload: dict[str, Any],
        message: Message,
        *,
        delay: float | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """Store a job (the payload already validated) and return its id."""
        ...


class CeleryBridge:
    """The bridge of a real deployment: Celery messages on Redis.

    An invoke waits on a reply list (`BLPOP`) rather than the result backend's
    pub/sub, so many threads of one worker can wait at once; its result is not
    stored in the backend (a plain Celery client's call still is).
    """

    def __init__(self, app: Celery, client: redis.Redis, jobs: JobStore) -> None:
        self._app = app
        self._client = client
        self.jobs = jobs

    def invoke(
        self, target: CommandInfo, payload: dict[str, Any], output: type[OutputT], message: Message
    ) -> OutputT:
        """Send the command and wait at most its timeout for the answer."""
        sent = message.next()
        reply = REPLY_PREFIX + sent.message_id
        with telemetry.tracer.start_as_current_span(
            f"invoke {target.task}",
            kind=SpanKind.CLIENT,
            attributes={"messaging.destination.name": target.queue, "purista.target": target.task},
        ):
            self._app.send_task(
                target.task,
                kwargs={"payload": payload},
                queue=target.queue,
                task_id=sent.message_id,
                headers={
                    HEADER: {
                        **sent.to_header(),
                        "reply_to": reply,
                        "trace_context": telemetry.inject({}),
                    }
                },
                expires=target.timeout,
                ignore_result=True,
            )
            answer = self._client.blpop([reply], timeout=target.timeout)
        if answer is None:
            raise errors.InvokeTimeout(
                f"{target.task} did not answer within {target.timeout:g} s; "
                f"is a worker consuming {target.queue} running?"
            )
        data = json.loads(answer[1])
        if not data.get("ok"):
            raise rebuild_error(data.get("error") or {})
        return wire.parse(output, data.get("result"), f"output of {target.task}")

    def emit(self, event: str, payload: dict[str, Any], message: Message) -> None:
        """Send one message per subscription; an event nobody subscribes to costs nothing."""
        routes = EVENT_ROUTES.get(event, ())
        if not routes:
            return
        with telemetry.tracer.start_as_current_span(
            "event_bridge.route",
            kind=SpanKind.PRODUCER,
            attributes={"purista.event": event, "purista.subscriptions": len(routes)},
        ):
            trace_context = telemetry.inject({})
            for route in routes:
                sent = message.next()
                self._app.send_task(
                    route.task,
                    kwargs={"payload": payload},
                    queue=route.queue,
                    task_id=sent.message_id,
                    headers={HEADER: {**sent.to_header(), "trace_context": trace_context}},
                    ignore_result=True,
                )

    def enqueue(
        self,
        queue: QueueInfo,
        payload: dict[str, Any],
        message: Message,
        *,
        delay: float | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """Store the job in Redis; it survives anything short of losing Redis.

        The job keeps the trace context of its producer, so every attempt, however
        delayed or retried, joins the producer's trace.
        """
        header = {**message.to_header(), "trace_context": telemetry.inject({})}
        return self.jobs.enqueue(
            queue, payload, header, delay=delay, idempotency_key=idempotency_key
        )


def error_record(exc: BaseException) -> dict[str, Any]:
    """An exception as it is sent back to an invoker: type, module, message and (JSON) args."""
    cls = type(exc)
    record: dict[str, Any] = {
        "type": cls.__qualname__,
        "module": cls.__module__,
        "message": str(exc),
    }
    try:
        record["args"] = json.loads(json.dumps(list(exc.args)))
    except (TypeError, ValueError):
        pass
    return record


def rebuild_error(record: Mapping[str, Any]) -> Exception:
    """The invoked command's exception, with its type name and its message unchanged.

    The original class is used when it is a known exception type here (a builtin,
    the runtime's, or one from a loaded module), rebuilt from its args without
    running its constructor again; otherwise an exception class of the same name,
    derived from `RemoteError`, stands in for it.
    """
    name = str(record.get("type") or "RemoteError")
    message = str(record.get("message") or "")
    module = sys.modules.get(str(record.get("module") or ""))
    cls: Any = getattr(module, name, None) if module is not None else None
    if cls is None and record.get("module") == "builtins":
        cls = getattr(builtins, name, None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        remote: Exception = type(name, (errors.RemoteError,), {})(message)
        return remote
    args = record.get("args")
    args = tuple(args) if isinstance(args, list) else (message,)
    try:
        exc: Exception = cls.__new__(cls, *args)
        exc.args = args
        if str(exc) == message:
            return exc
    except Exception:  # noqa: BLE001  (a class that cannot be rebuilt this way)
        pass
    # The same type for `except`, the original message for people.
    stand_in: Any = type(name, (cls,), {"__str__": lambda self: message})
    error: Exception = stand_in.__new__(stand_in, message)
    error.args = (message,)
    return error
