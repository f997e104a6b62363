# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""The Celery app: Redis as broker and result backend, JSON only, one queue per service."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import redis
from celery import Celery, Task
from opentelemetry.context import attach, detach

from . import errors, telemetry
from .bridge import REPLY_PREFIX, CeleryBridge, error_record
from .context import HEADER, Message
from .jobs import JobStore
from .project import PROJECT, SERVICES
from .runner import Binding, execute
from .settings import Settings
from .states import RedisStates

REPLY_TTL = 60  # seconds an unread reply is kept after its command's timeout


class _Shared:
    """The Celery app, Redis client and bridge of this process, each made on first use."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.app: Celery | None = None
        self.client: redis.Redis | None = None
        self.bridge: CeleryBridge | None = None


_shared = _Shared()


def create_app(settings: Settings) -> Celery:
    """A Celery app configured for this project."""
    app = Celery(
        PROJECT, broker=settings.redis_url, backend=settings.redis_url, set_as_current=False
    )
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_default_queue=f"{PROJECT}.default",
        task_acks_late=False,
        # A worker takes a message only when a slot is free, so a queue's Redis list
        # holds the whole backlog: what KEDA scales on is what waits.
        worker_prefetch_multiplier=1,
        worker_disable_prefetch=True,
        result_expires=settings.result_expires,
        broker_connection_retry_on_startup=True,
        broker_transport=f"{__package__}.transport:Transport",
        enable_utc=True,
    )
    return app


def get_app() -> Celery:
    """The Celery app of this process, created on first use from the environment."""
    with _shared.lock:
        if _shared.app is None:
            _shared.app = create_app(Settings.from_env())
        return _shared.app


def get_client() -> redis.Redis:
    """The Redis client of this process (its connection pool is safe across fork)."""
    with _shared.lock:
        if _shared.client is None:
            # No socket timeout: an invoke blocks on BLPOP for up to its command's
            # timeout; keepalive notices a dead server instead.
            _shared.client = redis.Redis.from_url(
                Settings.from_env().redis_url,
                socket_timeout=None,
                socket_connect_timeout=10,
                socket_keepalive=True,
                health_check_interval=30,
            )
        return _shared.client


def get_bridge() -> CeleryBridge:
    """The bridge handlers in this process send their messages through."""
    app, client = get_app(), get_client()
    with _shared.lock:
        if _shared.bridge is None:
            jobs = JobStore(client, Settings.from_env().job_retention)
            _shared.bridge = CeleryBridge(app, client, jobs)
        return _shared.bridge


def reset() -> None:
    """Forget this process's app, client and bridge: the next use reads the environment again."""
    with _shared.lock:
        if _shared.client is not None:
            _shared.client.close()
        _shared.app = _shared.client = _shared.bridge = None


def get_jobs() -> JobStore:
    """The job queues, as this process's bridge uses them."""
    return get_bridge().jobs


def states_for(service: str) -> RedisStates:
    """The state store of `service`."""
    info = SERVICES[service]
    return RedisStates(get_client(), f"{PROJECT}:state:{service}:", info.state_ttl)


def register(app: Celery, bindings: Iterable[Binding]) -> None:
    """Register a Celery task for each handler."""
    for binding in bindings:
        # An event is acknowledged once handled, so a worker killed mid-event does not
        # lose it: Redis hands it out again after the visibility timeout. A command is
        # acknowledged when it starts: its caller is waiting and retries if need be.
        event = binding.kind == "subscription"
        app.task(
            name=binding.task,
            bind=True,
            typing=False,
            queue=binding.queue,
            throws=(errors.InvalidPayload,),
            acks_late=event,
            reject_on_worker_lost=event,
        )(_task_function(binding))


def _task_function(binding: Binding) -> Any:
    def run(task: Task[Any, Any], payload: Any = None, **_: Any) -> Any:
        header = getattr(task.request, HEADER, None)
        message = Message.from_header(header, str(task.request.id))
        reply = header.get("reply_to") if isinstance(header, Mapping) else None
        if not (isinstance(reply, str) and reply.startswith(REPLY_PREFIX)):
            reply = None
        # The sender's trace context: from purista's header, or a foreign client's `traceparent`.
        carrier = header.get("trace_context") if isinstance(header, Mapping) else None
        context = telemetry.parent(
            carrier or {"traceparent": getattr(task.request, "traceparent", None)}
        )
        token = attach(context) if context is not None else None
        try:
            result = execute(binding, payload, message, get_bridge(), states_for(binding.service))
        except Exception as exc:
            if reply:
                _answer(reply, {"ok": False, "error": error_record(exc)})
            raise
        finally:
            if token is not None:
                detach(token)
        if reply:
            _answer(reply, {"ok": True, "result": result})
        return result

    return run


def _answer(key: str, answer: dict[str, Any]) -> None:
    client = get_client()
    with client.pipeline() as pipe:
        pipe.rpush(key, json.dumps(answer))
        pipe.expire(key, REPLY_TTL)
        pipe.execute()
