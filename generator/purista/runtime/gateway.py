# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""The HTTP gateway: `python -m <package> gateway`, FastAPI on uvicorn.

Every command and job queue with `http` in the spec is a route. A command is
invoked over the bridge and answers 200 with its output; a job queue answers 202
with `{"jobId"}` and `Location: /jobs/<id>`. Every error is an RFC 9457 problem
(`application/problem+json`) and never carries a stack trace. `authenticate` in the
project's `gateway_auth.py` decides who may call a route that is not `public`; the
principal and tenant it returns travel in the message metadata to every handler
down the line. Each request is a trace of its own (or joins the caller's
`traceparent`), which the command, event and job spans join.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.to_thread
import redis
import redis.asyncio
import uvicorn
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from pydantic import BaseModel, RootModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import errors, telemetry, wire
from .app import get_bridge
from .bridge import REPLY_SLICE, peek, ran_out_of_time, rebuild_error
from .context import Message
from .info import PACKAGE, Field, HttpRoute
from .project import COMMANDS, GATEWAY, PROJECT, QUEUES, ROUTES
from .runner import job_binding, service_bindings
from .settings import Settings

logger = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
#: The document `purista generate` writes next to this module.
OPENAPI_FILE = Path(__file__).with_name("openapi.json")
#: How often the gateway checks that Redis answers, and how long it waits for it.
PROBE_INTERVAL = 0.5
PROBE_TIMEOUT = 0.5
#: How long a command's send may keep trying Redis (it refused) before answering 503.
SEND_PATIENCE = 0.5
RETRY_PAUSE = 0.1
#: How a job's status reads over HTTP.
JOB_STATUS = {"queued": "pending", "scheduled": "pending"}


@dataclass(frozen=True)
class Principal:
    """Who is calling: `id` and `tenant_id` reach every handler as `context.message`."""

    id: str
    tenant_id: str | None = None


class Forbidden(Exception):  # noqa: N818  (reads as the answer: 403 Forbidden)
    """Raise from `authenticate` to refuse a request with 403 (its message is the detail)."""


class Problem(Exception):  # noqa: N818  (an answer, not a failure of the gateway)
    """An RFC 9457 problem: the answer to a request that cannot be served."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = extra

    def response(self, instance: str | None = None) -> Response:
        """The problem as an `application/problem+json` response."""
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance is not None:
            body["instance"] = instance
        body.update(self.extra)
        return Response(json.dumps(body), self.status, self.headers, media_type=PROBLEM)


def _pointer(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as a JSON Pointer (RFC 6901)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in loc)


def invalid(exc: ValidationError) -> Problem:
    """A 422 naming each failing field by its JSON Pointer."""
    entries = [
        {"pointer": _pointer(tuple(err["loc"])), "detail": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False, include_context=False)
    ]
    return Problem(
        422,
        "Unprocessable Content",
        f"the payload is invalid: {len(entries)} field(s) failed validation",
        errors=entries,
    )


def _convert(field: Field, text: str) -> Any:
    """A path or query parameter as its property's type; left as text when it is not one."""
    try:
        if field.kind == "integer":
            return int(text)
        if field.kind == "number":
            return float(text)
    except ValueError:
        return text
    if field.kind == "boolean":
        return {"true": True, "false": False}.get(text.lower(), text)
    return text


class Readiness:
    """Whether Redis answers, checked every `PROBE_INTERVAL` by a thread of its own.

    A request arriving while Redis is down is answered 503 at once, instead of
    waiting up to its command's timeout for a Redis that is not there.
    """

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(
            url, socket_timeout=PROBE_TIMEOUT, socket_connect_timeout=PROBE_TIMEOUT
        )
        self.ready = self._ping()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gateway-readiness", daemon=True)

    def start(self) -> None:
        """Start checking in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop checking."""
        self._stop.set()

    def _ping(self) -> bool:
        try:
            return bool(self._client.ping())
        except (redis.RedisError, OSError):
            return False

    def _run(self) -> None:
        while not self._stop.wait(PROBE_INTERVAL):
            ready = self._ping()
            if ready != self.ready:
                logger.warning("Redis is %s", "reachable again" if ready else "unreachable")
            self.ready = ready


@dataclass(frozen=True)
class _Target:
    """A route with what serving it needs, looked up once."""

    route: HttpRoute
    payload: type[BaseModel]
    span_name: str
    attributes: Mapping[str, str]


_ANY = RootModel[Any]
Authenticate = Callable[[Request], "Awaitable[Principal | None] | Principal | None"]


class Gateway:
    """The routes of the spec, the auth hook, the bridge and Redis's readiness."""

    def __init__(
        self, authenticate: Authenticate, readiness: Readiness, max_body: int, redis_url: str
    ) -> None:
        self.authenticate = authenticate
        self.is_async = inspect.iscoroutinefunction(authenticate)
        self.readiness = readiness
        self.max_body = max_body
        self.bridge = get_bridge()
        self.public_queues = {r.target for r in ROUTES if r.kind == "queue" and r.public}
        # Commands wait for their replies on the event loop, `concurrency` at a time.
        self.slots = asyncio.Semaphore(GATEWAY.concurrency)
        self.replies = redis.asyncio.Redis.from_url(
            redis_url,
            socket_timeout=REPLY_SLICE + 0.5,
            socket_connect_timeout=REPLY_SLICE + 0.5,
            max_connections=GATEWAY.concurrency,
        )
        # Set up by `telemetry.setup` only where something is exported.
        self.tracing = not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)

    def target(self, route: HttpRoute) -> _Target:
        """The payload model and span of a route."""
        if route.kind == "command":
            version = route.target.rsplit(".", 1)[0]  # `<service>.v<N>`
            binding = next(b for b in service_bindings(version) if b.task == route.target)
        else:
            binding = job_binding(route.target)
        attributes = {
            "http.route": route.path,
            "http.request.method": route.method,
            "purista.target": route.target,
        }
        return _Target(route, binding.payload, f"{route.method} {route.path}", attributes)

    async def principal(self, request: Request) -> Principal | None:
        """The caller, or a 401/403 problem, from an `async def` hook (or a plain one)."""
        try:
            found = self.authenticate(request)
            if inspect.isawaitable(found):
                found = await found
        except Forbidden as exc:
            raise _forbidden(exc) from None
        return _caller(found)

    def principal_here(self, request: Request) -> Principal | None:
        """The caller, or a 401/403 problem, from a plain hook (in a worker thread)."""
        try:
            found = self.authenticate(request)
        except Forbidden as exc:
            raise _forbidden(exc) from None
        return _caller(found)

    async def body(self, request: Request) -> Any:
        """The request's JSON body (at most `max_body` bytes), or `{}` when there is none."""
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            raise _too_large(self.max_body)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body:
                raise _too_large(self.max_body)
            chunks.append(chunk)
        raw = b"".join(chunks)
        if not raw.strip():
            return {}
        kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if kind != "application/json" and not (
            kind.startswith("application/") and kind.endswith("+json")
        ):
            raise Problem(
                415,
                "Unsupported Media Type",
                f"the body must be application/json, not {kind or 'untyped'}",
            )
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise Problem(400, "Bad Request", f"the body is not valid JSON: {exc}") from None

    async def handle(
        self, target: _Target, request: Request, body: Any, principal: Principal | None
    ) -> Response:
        """Validate, then invoke (here, on the event loop) or enqueue (in a worker thread).

        The request's span is the root of the trace (or joins the caller's `traceparent`);
        without a tracer provider (nothing exported) no span is made at all.
        """
        if not self.tracing:
            return await self._answer(target, request, body, principal)
        parent = telemetry.extract(request.headers)
        with telemetry.tracer.start_as_current_span(
            target.span_name, context=parent, kind=SpanKind.SERVER, attributes=target.attributes
        ) as span:
            response = await self._answer(target, request, body, principal)
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                span.set_status(trace.StatusCode.ERROR)
            return response

    async def _answer(
        self, target: _Target, request: Request, body: Any, principal: Principal | None
    ) -> Response:
        try:
            data, message = self._prepare(target, request, body, principal)
            if target.route.kind == "queue":
                return await run_in_threadpool(self._enqueue, target.route, data, message)
            async with self.slots:
                output = await self._invoke(target.route, data, message)
            return Response(json.dumps(output), 200, media_type="application/json")
        except Problem as problem:
            return problem.response(request.url.path)

    def _prepare(
        self, target: _Target, request: Request, body: Any, principal: Principal | None
    ) -> tuple[dict[str, Any], Message]:
        """The payload from the body, path and query, validated; the message metadata."""
        route = target.route
        if not isinstance(body, dict):
            raise Problem(
                422,
                "Unprocessable Content",
                f"the body must be a JSON object, not {type(body).__name__}",
                errors=[{"pointer": "", "detail": "must be a JSON object"}],
            )
        payload = dict(body)
        if route.query:
            items = request.query_params
            for field in route.query:
                values = items.getlist(field.name)
                if not values:
                    continue
                if field.array:
                    payload[field.name] = [_convert(field, v) for v in values]
                else:
                    payload[field.name] = _convert(field, values[-1])
        for field in route.params:
            payload[field.name] = _convert(field, request.path_params[field.name])
        try:
            model = target.payload.model_validate(payload, by_alias=True, by_name=False)
        except ValidationError as exc:
            raise invalid(exc) from None
        if not self.readiness.ready:
            raise _unavailable()
        message = Message.first(
            principal.id if principal else None, principal.tenant_id if principal else None
        )
        return wire.dump(model), message

    async def _invoke(self, route: HttpRoute, data: dict[str, Any], message: Message) -> Any:
        """Send the command and wait for its reply without holding a thread."""
        command = COMMANDS[route.target]
        with telemetry.tracer.start_as_current_span(
            f"invoke {command.task}",
            kind=SpanKind.CLIENT,
            attributes={
                "messaging.destination.name": command.queue,
                "purista.target": command.task,
            },
        ):
            try:
                reply, deadline = self.bridge.send_invoke(
                    command, data, message, patience=SEND_PATIENCE
                )
            except errors.PayloadTooLarge as exc:
                raise Problem(413, "Content Too Large", str(exc)) from None
            except errors.PublishError:
                raise _unavailable() from None
            raw = await self._wait(reply, deadline)
        if raw is None:
            if not self.readiness.ready:
                raise _unavailable()
            raise Problem(
                504,
                "Gateway Timeout",
                f"{command.task} did not answer within {command.timeout:g} s: no worker of "
                f"{command.queue} took it in time, or its handler ran longer",
            )
        answer = json.loads(raw)
        if not answer.get("ok") and ran_out_of_time(answer.get("error") or {}):
            raise Problem(
                504,
                "Gateway Timeout",
                f"{command.task} did not answer within {command.timeout:g} s: its handler ran "
                "longer and was stopped",
            )
        if not answer.get("ok"):
            failure = rebuild_error(answer.get("error") or {})
            kind = type(failure).__name__
            raise Problem(
                502,
                "Bad Gateway",
                f"{route.target} failed: {kind}: {failure}",
                error={"type": kind, "message": str(failure)},
            )
        return answer.get("result")

    async def _wait(self, reply: str, deadline: float) -> bytes | None:
        """The answer on `reply`, or None once `deadline` (monotonic) has passed."""
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                found = await peek(self.replies, reply, remaining)
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                await asyncio.sleep(min(RETRY_PAUSE, max(0.0, deadline - time.monotonic())))
                continue
            if found is not None:
                with contextlib.suppress(redis.RedisError, OSError):  # else it expires
                    await self.replies.delete(reply)
                return bytes(found)
        return None

    def _enqueue(self, route: HttpRoute, data: dict[str, Any], message: Message) -> Response:
        try:
            job_id = self.bridge.enqueue(QUEUES[route.target], data, message)
        except errors.PayloadTooLarge as exc:
            raise Problem(413, "Content Too Large", str(exc)) from None
        except (redis.RedisError, OSError):
            raise _unavailable() from None
        return Response(
            json.dumps({"jobId": job_id}),
            202,
            {"Location": f"/jobs/{job_id}"},
            media_type="application/json",
        )

    def job(self, job_id: str, principal: Principal | None) -> Response:
        """A job's status, as `python -m <package> job` shows it."""
        if not self.readiness.ready:
            raise _unavailable()
        try:
            record = self.bridge.jobs.get(job_id)
        except (redis.RedisError, OSError):
            raise _unavailable() from None
        owner = (record or {}).get("message") or {}
        if record is None or (
            principal is not None and owner.get("principal_id") not in (None, principal.id)
        ):
            raise Problem(404, "Not Found", f"no job {job_id} (unknown, or its record expired)")
        status = str(record.get("status"))
        answer: dict[str, Any] = {
            "jobId": job_id,
            "queue": record.get("queue"),
            "status": JOB_STATUS.get(status, status),
            "attempt": record.get("attempt"),
            "maxAttempts": record.get("max_attempts"),
        }
        if status == "succeeded":
            answer["result"] = record.get("result")
        if record.get("last_error"):
            answer["error"] = record["last_error"]
        for key, name in (("created_at", "createdAt"), ("finished_at", "finishedAt")):
            if record.get(key):
                answer[name] = record[key]
        return Response(json.dumps(answer), 200, media_type="application/json")


def _forbidden(exc: Forbidden) -> Problem:
    return Problem(403, "Forbidden", str(exc) or "the caller may not do this")


def _caller(found: Any) -> Principal:
    if found is None:
        raise Problem(
            401,
            "Unauthorized",
            "authentication is required",
            headers={"WWW-Authenticate": f'Bearer realm="{PROJECT}"'},
        )
    if not isinstance(found, Principal):
        raise TypeError(f"authenticate must return a Principal or None, not {type(found)!r}")
    return found


def _too_large(limit: int) -> Problem:
    return Problem(413, "Content Too Large", f"the body is over the limit of {limit} bytes")


def _unavailable() -> Problem:
    return Problem(
        503,
        "Service Unavailable",
        "Redis cannot be reached; try again shortly",
        headers={"Retry-After": "1"},
    )


def _endpoint(gateway: Gateway, target: _Target) -> Callable[[Request], Awaitable[Response]]:
    public = target.route.public

    async def endpoint(request: Request) -> Response:
        try:
            principal = None
            if not public:
                principal = (
                    await gateway.principal(request)
                    if gateway.is_async
                    else await run_in_threadpool(gateway.principal_here, request)
                )
            body = await gateway.body(request) if request.method != "GET" else {}
        except Problem as problem:
            return problem.response(request.url.path)
        return await gateway.handle(target, request, body, principal)

    return endpoint


def create_app(
    authenticate: Authenticate | None = None,
    *,
    max_body: int | None = None,
    readiness: Readiness | None = None,
) -> FastAPI:
    """The gateway's app: the spec's routes, `/jobs/{jobId}`, `/openapi.json`, the probes."""
    if authenticate is None:
        authenticate = importlib.import_module(f"{PACKAGE}.gateway_auth").authenticate
    settings = Settings.from_env()
    readiness = readiness or Readiness(settings.redis_url)
    gateway = Gateway(authenticate, readiness, max_body or GATEWAY.max_body, settings.redis_url)
    document = OPENAPI_FILE.read_bytes() if OPENAPI_FILE.exists() else b"{}"
    app = FastAPI(
        title=PROJECT,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan,
        # FastAPI's own request metric (`http.server.request.duration`) is kept; its spans
        # would start a second trace beside the gateway's span (`Gateway.handle`), and its
        # logs carry stack traces.
        telemetry={"tracing": False, "operation_spans": False, "logs": False},
    )
    app.state.gateway = gateway
    # Literal segments before parameters, so `/items/new` is not taken for `/items/{id}`.
    ordered = sorted(ROUTES, key=lambda r: r.path.count("{"))
    for route in ordered:
        app.router.routes.append(
            Route(route.path, _endpoint(gateway, gateway.target(route)), methods=[route.method])
        )

    async def job(request: Request) -> Response:
        job_id = request.path_params["jobId"]
        try:
            principal = None
            record_queue = await run_in_threadpool(_queue_of, gateway, job_id)
            if record_queue not in gateway.public_queues:
                principal = await gateway.principal(request)
            return await run_in_threadpool(gateway.job, job_id, principal)
        except Problem as problem:
            return problem.response(request.url.path)

    async def openapi(request: Request) -> Response:
        return Response(document, media_type="application/json")

    async def healthz(request: Request) -> Response:
        return Response('{"status":"ok"}', media_type="application/json")

    async def readyz(request: Request) -> Response:
        if gateway.readiness.ready:
            return Response('{"status":"ready"}', media_type="application/json")
        return _unavailable().response(request.url.path)

    for path, endpoint in (
        ("/jobs/{jobId}", job),
        ("/openapi.json", openapi),
        ("/healthz", healthz),
        ("/readyz", readyz),
    ):
        app.router.routes.append(Route(path, endpoint, methods=["GET"]))
    app.add_exception_handler(HTTPException, _http_problem)
    app.add_exception_handler(Exception, _internal_problem)
    return app


def _queue_of(gateway: Gateway, job_id: str) -> str | None:
    """The queue of a job (None when unknown), to tell whether its status is public."""
    if not gateway.public_queues or not gateway.readiness.ready:
        return None
    try:
        value = gateway.bridge.jobs.client.hget(f"{PROJECT}:job:{job_id}", "queue")
    except (redis.RedisError, OSError):
        return None
    return value.decode() if isinstance(value, bytes) else None


async def _http_problem(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    titles = {404: "Not Found", 405: "Method Not Allowed"}
    detail = {
        404: f"no route {request.method} {request.url.path}",
        405: f"{request.url.path} does not take {request.method}",
    }.get(status, str(getattr(exc, "detail", "")))
    headers = dict(getattr(exc, "headers", None) or {})
    return Problem(status, titles.get(status, "Error"), detail, headers=headers).response(
        request.url.path
    )


async def _internal_problem(request: Request, exc: Exception) -> Response:
    logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return Problem(500, "Internal Server Error", "the gateway failed; see its log").response(
        request.url.path
    )


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    anyio.to_thread.current_default_thread_limiter().total_tokens = GATEWAY.concurrency
    gateway: Gateway = app.state.gateway
    gateway.readiness.start()
    try:
        yield
    finally:
        gateway.readiness.stop()
        await gateway.replies.aclose()


def run_gateway(host: str, port: int | None, loglevel: str = "WARNING") -> int:
    """Serve the gateway until SIGTERM or Ctrl-C (uvicorn finishes the requests in flight)."""
    logging.basicConfig(level=loglevel, format="%(levelname)s %(name)s: %(message)s")
    telemetry.setup("gateway", worker=telemetry.worker_name(("gateway",)))
    app = create_app()
    started = time.monotonic()
    print(
        f"{PROJECT} gateway on http://{host}:{port or GATEWAY.port} "
        f"({len(ROUTES)} routes; /openapi.json, /healthz, /readyz)",
        flush=True,
    )
    uvicorn.run(
        app,
        host=host,
        port=port or GATEWAY.port,
        access_log=False,
        log_level=loglevel.lower(),
        timeout_graceful_shutdown=30,
    )
    logger.info("the gateway ran %.0f s", time.monotonic() - started)
    return 0
