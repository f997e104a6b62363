# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""The Celery app: Redis as broker and result backend, JSON only, one queue per service."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

import redis
from celery import Celery, Task
from celery.exceptions import Reject
from opentelemetry.context import attach, detach
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.retry import Retry

from . import bench, errors, health, telemetry
from .bridge import REPLY_PREFIX, REPLY_SLICE, CeleryBridge, error_record
from .context import HEADER, Message
from .delivery import Deliveries, Event
from .info import QueueInfo
from .jobs import JobStore
from .project import PROJECT, SERVICES, SUBSCRIPTIONS
from .runner import Binding, execute
from .settings import Settings
from .states import RedisStates

logger = logging.getLogger(__name__)

REPLY_TTL = 60  # seconds an unread reply is kept after its command's timeout
#: A handler past its timeout is interrupted (prefork); this much later its process is killed.
HARD_LIMIT_GRACE = 5.0
#: An unacknowledged event comes back this long after the longest subscription timeout.
VISIBILITY_MARGIN = 15.0
#: How long any Redis command of the runtime's client may take before it counts as failed.
SOCKET_TIMEOUT = 5.0


def visibility_timeout(settings: Settings) -> float:
    """Seconds after which Redis hands out again an event whose worker never acknowledged it.

    One value for the whole project, since every worker sweeps the same unacked index:
    the longest subscription timeout, its kill grace and `VISIBILITY_MARGIN`, unless
    `PURISTA_VISIBILITY_TIMEOUT` says otherwise (it must exceed every subscription
    timeout, or an event still being handled is delivered again).
    """
    if settings.visibility_timeout is not None:
        return settings.visibility_timeout
    longest = max((s.lease for s in SUBSCRIPTIONS.values()), default=0.0)
    return longest + HARD_LIMIT_GRACE + VISIBILITY_MARGIN


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
        broker_transport_options={
            "visibility_timeout": visibility_timeout(settings),
            "socket_timeout": SOCKET_TIMEOUT,
            "socket_connect_timeout": SOCKET_TIMEOUT,
            "socket_keepalive": True,
            "health_check_interval": 25,
        },
        redis_socket_timeout=SOCKET_TIMEOUT,
        redis_socket_connect_timeout=SOCKET_TIMEOUT,
        redis_socket_keepalive=True,
        enable_utc=True,
    )
    return app


class _Shared:
    """The Celery app, Redis clients and bridge of this process, each made on first use."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.app: Celery | None = None
        self.client: redis.Redis | None = None
        self.replies: redis.Redis | None = None
        self.bridge: CeleryBridge | None = None
        self.deliveries: Deliveries | None = None
        self.states: dict[str, RedisStates] = {}


_shared = _Shared()


def get_app() -> Celery:
    """The Celery app of this process, created on first use from the environment."""
    with _shared.lock:
        if _shared.app is None:
            _shared.app = create_app(Settings.from_env())
        return _shared.app


def get_client() -> redis.Redis:
    """The Redis client of this process: state stores, job queues, replies sent.

    Every command waits at most `SOCKET_TIMEOUT` for Redis and is tried twice more
    after a lost connection (a Redis restart); keepalive notices a dead peer.
    Its connection pool is safe across fork.
    """
    with _shared.lock:
        if _shared.client is None:
            _shared.client = redis.Redis.from_url(
                Settings.from_env().redis_url,
                socket_timeout=SOCKET_TIMEOUT,
                socket_connect_timeout=SOCKET_TIMEOUT,
                socket_keepalive=True,
                health_check_interval=30,
                retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), 2),
            )
        return _shared.client


def get_replies() -> redis.Redis:
    """The Redis client invokes wait on: a one-second socket timeout and no retries.

    A wait is a series of short blocking reads (`bridge.peek`), so a frozen or
    unreachable Redis costs the caller at most a second past its deadline.
    """
    with _shared.lock:
        if _shared.replies is None:
            _shared.replies = redis.Redis.from_url(
                Settings.from_env().redis_url,
                socket_timeout=REPLY_SLICE + 0.5,
                socket_connect_timeout=REPLY_SLICE + 0.5,
                socket_keepalive=True,
                retry=Retry(NoBackoff(), 0),
            )
        return _shared.replies


def get_bridge() -> CeleryBridge:
    """The bridge handlers in this process send their messages through."""
    if _shared.bridge is not None:  # made once: every message takes this path
        return _shared.bridge
    app, client, replies = get_app(), get_client(), get_replies()
    with _shared.lock:
        if _shared.bridge is None:
            settings = Settings.from_env()
            jobs = JobStore(client, settings.job_retention, settings.max_payload)
            _shared.bridge = CeleryBridge(app, replies, jobs, settings.max_payload)
        return _shared.bridge


def get_jobs() -> JobStore:
    """The job queues, as this process's bridge uses them."""
    return get_bridge().jobs


def get_deliveries() -> Deliveries:
    """Retries and dead letters of the subscriptions, in this process."""
    if _shared.deliveries is not None:
        return _shared.deliveries
    client, jobs = get_client(), get_jobs()
    with _shared.lock:
        if _shared.deliveries is None:
            _shared.deliveries = Deliveries(client, jobs)
        return _shared.deliveries


def reset() -> None:
    """Forget this process's app, clients and bridge: the next use reads the environment again."""
    with _shared.lock:
        for client in (_shared.client, _shared.replies):
            if client is not None:
                client.close()
        _shared.app = _shared.client = _shared.replies = None
        _shared.bridge = _shared.deliveries = None
        _shared.states.clear()


def states_for(service: str) -> RedisStates:
    """The state store of `service`, a `<service>.v<N>` (one per service version and process)."""
    states = _shared.states.get(service)
    if states is None:
        info = SERVICES[service]
        states = RedisStates(get_client(), f"{PROJECT}:state:{service}:", info.state_ttl)
        _shared.states[service] = states
    return states


def register(app: Celery, bindings: Iterable[Binding]) -> None:
    """Register a Celery task for each command and subscription handler.

    A command is acknowledged when it starts: its caller waits for the answer and
    decides what to do without one. An event is acknowledged once handled, and
    its failures are retried by `delivery`: a worker lost mid-event does not lose
    it. Each handler runs at most its timeout (interrupted, on the prefork pool,
    then killed `HARD_LIMIT_GRACE` later).
    """
    for binding in bindings:
        if binding.kind == "command":
            run = _command_task(binding)
        elif binding.kind == "subscription":
            run = _subscription_task(binding, SUBSCRIPTIONS[binding.queue])
        else:
            continue
        event = binding.kind == "subscription"
        app.task(
            name=binding.task,
            bind=True,
            typing=False,
            queue=binding.queue,
            throws=(errors.InvalidPayload,),
            acks_late=event,
            reject_on_worker_lost=event,
            ignore_result=event,
            soft_time_limit=math.ceil(binding.timeout),
            time_limit=math.ceil(binding.timeout + HARD_LIMIT_GRACE),
        )(run)


def _context(task: Task[Any, Any]) -> tuple[Mapping[str, Any], Message, Any]:
    """The purista header of a task's message, its metadata and the sender's trace context.

    A foreign client's message has no purista header: it starts a new flow, in the
    trace of its `traceparent` if it sent one.
    """
    found = getattr(task.request, HEADER, None)
    header: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    message = Message.from_header(header, str(task.request.id))
    carrier = header.get("trace_context")
    context = telemetry.parent(
        carrier or {"traceparent": getattr(task.request, "traceparent", None)}
    )
    return header, message, context


def _command_task(binding: Binding) -> Any:
    def run(task: Task[Any, Any], payload: Any = None, **_: Any) -> Any:
        header, message, trace_context = _context(task)
        reply = header.get("reply_to")
        if not (isinstance(reply, str) and reply.startswith(REPLY_PREFIX)):
            reply = None
        token = attach(trace_context) if trace_context is not None else None
        started = time.perf_counter()
        try:
            with health.running(binding.timeout):
                result = execute(
                    binding, payload, message, get_bridge(), states_for(binding.service_key)
                )
        except Exception as exc:
            bench.note(header, binding.task, started, False, get_client)
            if reply:
                _answer(reply, {"ok": False, "error": error_record(exc)})
            raise
        finally:
            if token is not None:
                detach(token)
        bench.note(header, binding.task, started, True, get_client)
        if reply:
            _answer(reply, {"ok": True, "result": result})
        return result

    return run


def _subscription_task(binding: Binding, subscription: QueueInfo) -> Any:
    def run(task: Task[Any, Any], payload: Any = None, **_: Any) -> None:
        header, message, trace_context = _context(task)
        deliveries = get_deliveries()
        redelivered = bool((task.request.delivery_info or {}).get("redelivered"))
        try:
            attempt = deliveries.attempt(message.message_id, header, redelivered=redelivered)
        except redis.RedisError as exc:
            raise Reject(f"Redis unreachable: {exc}", requeue=True) from exc
        event = Event(message.message_id, binding.task, payload, dict(header), attempt)
        if attempt > subscription.max_attempts:
            # Each earlier delivery was lost with its worker: do not let it take another one.
            error = (
                f"delivered {attempt - 1} times without an answer: its worker was lost each time"
            )
            _record(deliveries.bury, subscription, event, error)
            logger.error("event %s for %s: %s; dead-lettered", event.id, binding.task, error)
            return
        token = attach(trace_context) if trace_context is not None else None
        started = time.perf_counter()
        try:
            with health.running(binding.timeout):
                execute(binding, payload, message, get_bridge(), states_for(binding.service_key))
            bench.note(header, binding.task, started, True, get_client)
        except Exception as exc:  # noqa: BLE001  (every failure is retried, or dead-lettered)
            bench.note(header, binding.task, started, False, get_client)
            error = f"{type(exc).__name__}: {exc}"
            outcome = _record(deliveries.failed, subscription, event, error)
            logger.warning(
                "event %s for %s failed on attempt %d of %d (%s): %s",
                event.id,
                binding.task,
                attempt,
                subscription.max_attempts,
                "dead-lettered" if outcome == "dead" else "retried after a backoff",
                error,
            )
        finally:
            if token is not None:
                detach(token)

    return run


def _record(how: Any, subscription: QueueInfo, event: Event, error: str) -> Any:
    """Record what became of an event; without Redis, the message goes back to its queue."""
    try:
        return how(subscription, event, error)
    except redis.RedisError as exc:
        raise Reject(f"could not record the failure ({exc})", requeue=True) from exc


def _answer(key: str, answer: dict[str, Any]) -> None:
    """Push a command's answer to its caller's reply list (lost if Redis cannot take it)."""
    try:
        with get_client().pipeline() as pipe:
            pipe.rpush(key, json.dumps(answer))
            pipe.expire(key, REPLY_TTL)
            pipe.execute()
    except redis.RedisError as exc:
        logger.warning("could not answer %s: %s", key, exc)
