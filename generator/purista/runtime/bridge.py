# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""How messages leave a handler: invoke and emit over Celery, enqueue into Redis job queues.

Routing is decided here and only here, from the tables the spec produced.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any, Protocol, TypeVar, cast

import redis
from celery import Celery
from kombu.exceptions import OperationalError
from opentelemetry.trace import SpanKind
from pydantic import BaseModel

from . import errors, telemetry, wire
from .bench import marked
from .context import HEADER, Message
from .info import CommandInfo, QueueInfo
from .jobs import JobStore
from .project import EVENT_ROUTES, PROJECT
from .settings import check_size

OutputT = TypeVar("OutputT", bound=BaseModel)

REPLY_PREFIX = f"{PROJECT}:reply:"
#: Waits for a reply are slices of at most this long, so a deadline holds while Redis is away.
REPLY_SLICE = 0.5

#: What a failed send raises: Redis unreachable, frozen or restarting.
SEND_ERRORS = (OperationalError, redis.RedisError, OSError)


def _timed_out(exc: BaseException) -> bool:
    """Whether an error, or one it was raised from, is a timeout waiting for Redis."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, TimeoutError | redis.TimeoutError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def peek(replies: Any, reply: str, remaining: float) -> Any:
    """One slice of a wait for `reply` (a sync or asyncio Redis client's call).

    `BLMOVE` of the list onto itself reads the answer without taking it: if the wait
    gives up between Redis sending it and the caller reading it (a socket timeout, a
    cancelled task), it is still there for the next slice. The caller deletes the
    list once it has read it.
    """
    # Redis takes fractions of a second; redis-py's annotation says int.
    return replies.blmove(reply, reply, min(REPLY_SLICE, remaining), "LEFT", "RIGHT")


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


class Sender:
    """Sends Celery messages from this thread through a broker connection of its own.

    The connection waits at most `SOCKET_TIMEOUT` for each answer of Redis. A send
    that Redis refused (it is restarting, or the connection was lost) is tried
    again on a new connection until its deadline; a send that Redis did not
    answer in time is not, since Redis may have taken it (a command runs at most
    once). Either way a frozen or restarting Redis holds a caller up no longer
    than its deadline and a second.
    """

    SOCKET_TIMEOUT = 0.5
    RETRY_PAUSE = 0.1

    def __init__(self, app: Celery) -> None:
        self._app = app
        self._local = threading.local()

    def send(
        self,
        task: str,
        payload: dict[str, Any],
        queue: str,
        header: dict[str, Any],
        *,
        task_id: str,
        deadline: float,
        expires: float | None = None,
    ) -> None:
        """Send one task message, or raise `PublishError` (at the latest at `deadline`)."""
        while True:
            try:
                self._app.send_task(
                    task,
                    kwargs={"payload": payload},
                    queue=queue,
                    task_id=task_id,
                    headers={HEADER: header},
                    expires=expires,
                    ignore_result=True,
                    retry=False,
                    producer=self._producer(),
                )
                return
            except SEND_ERRORS as exc:
                self._local.producer = None
                unanswered = _timed_out(exc)
                if unanswered or time.monotonic() + self.RETRY_PAUSE >= deadline:
                    why = (
                        "Redis did not answer in time (it may still run, once)"
                        if unanswered
                        else "Redis refused it"
                    )
                    raise errors.PublishError(f"could not send {task}: {why} ({exc})") from exc
                time.sleep(self.RETRY_PAUSE)

    def _producer(self) -> Any:
        producer = getattr(self._local, "producer", None)
        if producer is None or self._local.pid != os.getpid():
            options = {
                **self._app.conf.broker_transport_options,
                "socket_timeout": self.SOCKET_TIMEOUT,
                "socket_connect_timeout": self.SOCKET_TIMEOUT,
                "max_retries": 0,  # `send` decides whether to try again
            }
            connection = self._app.connection_for_write(transport_options=options)
            producer = connection.Producer(auto_declare=False)
            self._local.producer, self._local.pid = producer, os.getpid()
        return producer


class CeleryBridge:
    """The bridge of a real deployment: Celery messages on Redis.

    An invoke waits on a reply list (see `peek`) rather than the result backend's
    pub/sub, so many threads of one worker can wait at once; its result is not
    stored in the backend (a plain Celery client's call still is). The waits use a
    client of their own (`replies`: a short socket timeout and no retries) in slices
    of `REPLY_SLICE`, so the caller's deadline holds within a second even while
    Redis is frozen or unreachable.
    """

    #: How long an emit keeps trying to reach Redis before the handler fails.
    EMIT_PATIENCE = 10.0

    def __init__(self, app: Celery, replies: redis.Redis, jobs: JobStore, max_payload: int) -> None:
        self._app = app
        self._replies = replies
        self._sender = Sender(app)
        self._max_payload = max_payload
        self.jobs = jobs

    def invoke(
        self, target: CommandInfo, payload: dict[str, Any], output: type[OutputT], message: Message
    ) -> OutputT:
        """Send the command and wait at most its timeout for the answer."""
        deadline = time.monotonic() + target.timeout
        check_size(json.dumps(payload), self._max_payload, target.task)
        sent = message.next()
        reply = REPLY_PREFIX + sent.message_id
        with telemetry.tracer.start_as_current_span(
            f"invoke {target.task}",
            kind=SpanKind.CLIENT,
            attributes={"messaging.destination.name": target.queue, "purista.target": target.task},
        ):
            try:
                self._send(target, payload, sent, deadline, reply=reply)
            except errors.PublishError as exc:
                raise errors.InvokeTimeout(str(exc)) from None
            answer = self._wait(reply, deadline)
        if answer is None:
            raise errors.InvokeTimeout(
                f"{target.task} did not answer within {target.timeout:g} s: no worker of "
                f"{target.queue} took it in time, or its handler ran longer"
            )
        data = json.loads(answer)
        if not data.get("ok"):
            error = data.get("error") or {}
            if ran_out_of_time(error):
                raise errors.InvokeTimeout(
                    f"{target.task} did not answer within {target.timeout:g} s: its handler "
                    "ran longer and was stopped"
                )
            raise rebuild_error(error)
        return wire.parse(output, data.get("result"), f"output of {target.task}")

    def send_invoke(
        self, target: CommandInfo, payload: dict[str, Any], message: Message, *, patience: float
    ) -> tuple[str, float]:
        """Send a command without waiting for it: the reply list to wait on, and the deadline.

        For a caller that waits on its own (the HTTP gateway, on its event loop); the send
        gives up after `patience` seconds (`PublishError`) rather than the command's timeout.
        """
        deadline = time.monotonic() + target.timeout
        check_size(json.dumps(payload), self._max_payload, target.task)
        sent = message.next()
        reply = REPLY_PREFIX + sent.message_id
        self._send(target, payload, sent, min(deadline, time.monotonic() + patience), reply=reply)
        return reply, deadline

    def _send(
        self,
        target: CommandInfo,
        payload: dict[str, Any],
        sent: Message,
        deadline: float,
        *,
        reply: str | None = None,
    ) -> None:
        """Send the command with `sent`'s metadata, in the current trace.

        With a `reply` list the worker answers there, and the command expires after its
        timeout (nobody waits longer); without, it runs whenever a worker takes it.
        """
        answer = {"reply_to": reply} if reply else {}
        header = marked({**sent.to_header(), **answer, "trace_context": telemetry.inject({})})
        self._sender.send(
            target.task,
            payload,
            target.queue,
            header,
            task_id=sent.message_id,
            deadline=deadline,
            expires=target.timeout if reply else None,
        )

    def _wait(self, reply: str, deadline: float) -> bytes | None:
        """The answer on `reply`, or None once `deadline` (monotonic) has passed."""
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                answer = cast(bytes | None, peek(self._replies, reply, remaining))
            except (redis.ConnectionError, redis.TimeoutError):
                time.sleep(min(Sender.RETRY_PAUSE, max(0.0, deadline - time.monotonic())))
                continue
            if answer is not None:
                with contextlib.suppress(redis.RedisError):  # else it expires (`REPLY_TTL`)
                    self._replies.delete(reply)
                return answer
        return None

    def post(
        self, target: CommandInfo, payload: dict[str, Any], message: Message, patience: float
    ) -> None:
        """Send a command without waiting for its output (a schedule's firing).

        The command runs once it is sent; its output is kept in the result backend like
        a plain Celery client's call. `patience`: seconds to keep trying while Redis
        refuses the message.
        """
        check_size(json.dumps(payload), self._max_payload, target.task)
        sent = message.next()
        with telemetry.tracer.start_as_current_span(
            f"invoke {target.task}",
            kind=SpanKind.PRODUCER,
            attributes={"messaging.destination.name": target.queue, "purista.target": target.task},
        ):
            self._send(target, payload, sent, time.monotonic() + patience)

    def emit(self, event: str, payload: dict[str, Any], message: Message) -> None:
        """Send one message per subscription; an event nobody subscribes to costs nothing."""
        routes = EVENT_ROUTES.get(event, ())
        if not routes:
            return
        check_size(json.dumps(payload), self._max_payload, f"event {event}")
        with telemetry.tracer.start_as_current_span(
            "event_bridge.route",
            kind=SpanKind.PRODUCER,
            attributes={"purista.event": event, "purista.subscriptions": len(routes)},
        ):
            trace_context = telemetry.inject({})
            deadline = time.monotonic() + self.EMIT_PATIENCE
            for route in routes:
                sent = message.next()
                self._sender.send(
                    route.task,
                    payload,
                    route.queue,
                    marked({**sent.to_header(), "trace_context": trace_context}),
                    task_id=sent.message_id,
                    deadline=deadline,
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
        header = marked({**message.to_header(), "trace_context": telemetry.inject({})})
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


#: What a handler stopped at the command's `timeout` (Celery's time limits) raises.
TIME_LIMITS = frozenset({"SoftTimeLimitExceeded", "TimeLimitExceeded"})


def ran_out_of_time(record: Mapping[str, Any]) -> bool:
    """Whether an error reply says the handler was stopped at its timeout: a timeout to callers."""
    return str(record.get("type") or "").rsplit(".", 1)[-1] in TIME_LIMITS


def rebuild_error(record: Mapping[str, Any]) -> Exception:
    """The invoked command's exception, with its type name and its message unchanged.

    The original class is used when it is a known exception type here (a builtin,
    the runtime's, or one from a loaded module, nested classes included), rebuilt
    from its args without running its constructor again; otherwise an exception
    class of the same name and module, derived from `RemoteError`, stands in for
    it, so that it reads the same in logs and to plain Celery clients.
    """
    qualname = str(record.get("type") or "RemoteError")
    message = str(record.get("message") or "")
    module_name = str(record.get("module") or "")
    owner = builtins if module_name == "builtins" else sys.modules.get(module_name)
    cls: Any = owner
    for part in qualname.split("."):
        cls = getattr(cls, part, None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        name = qualname.rsplit(".", 1)[-1]
        where = {
            "__module__": module_name or errors.__name__,
            "__qualname__": qualname,
            "__reduce__": _rebuilt_from(record),
        }
        remote: Exception = type(name, (errors.RemoteError,), where)(message)
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
    namespace: dict[str, Any] = {
        "__str__": lambda self: message,
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
        "__reduce__": _rebuilt_from(record),
    }
    stand_in: Any = type(cls.__name__, (cls,), namespace)
    error: Exception = stand_in.__new__(stand_in, message)
    error.args = (message,)
    return error


def _rebuilt_from(record: Mapping[str, Any]) -> Any:
    """`__reduce__` of a stand-in class: pickled, it is rebuilt from its record.

    Celery pickles an exception to check it before storing it; a class made here
    cannot be found by name, and Celery would store its nearest base instead
    (`RemoteError`), hiding the original type from plain clients and the log.
    """
    kept = dict(record)
    return lambda self: (rebuild_error, (kept,))
