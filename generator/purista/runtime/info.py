# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""The shapes of what the spec says about a project; `project.py` holds the values.

`project.py` is the one module of the runtime that `purista generate` renders from
the spec; every other module is the same in every project.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

#: The project's import package (`<package>` in `python -m <package>`).
PACKAGE = __name__.split(".")[0]


def service_key(service: str, version: int) -> str:
    """`<service>.v<N>`: a version of a service, as `SERVICES` and its state store name it."""
    return f"{service}.v{version}"


def task_service(task: str) -> str:
    """The service version of a command or subscription task (`user.v2.signUp` -> `user.v2`)."""
    return task.rsplit(".", maxsplit=1)[0]


@dataclass(frozen=True)
class ServiceInfo:
    """A version of a service: the queues its worker consumes and the module registering its tasks.

    `SERVICES` holds one per live version, by `service_key`.
    """

    name: str
    version: int
    queue: str
    consumes: tuple[str, ...]
    tasks_module: str
    pool: Literal["prefork", "threads"]
    concurrency: int
    state_ttl: int | None
    uses_database: bool

    @property
    def key(self) -> str:
        """`<service>.v<N>`."""
        return service_key(self.name, self.version)


@dataclass(frozen=True)
class CommandInfo:
    """Where a command is sent and how long a caller waits for it."""

    task: str
    queue: str
    timeout: float


@dataclass(frozen=True)
class QueueInfo:
    """A job queue: its service, and how it retries, leases and batches.

    A subscription's deliveries are retried and dead-lettered the same way: its
    `QueueInfo` is named after its Celery queue, and its `lease` is the handler's timeout.
    """

    name: str
    service: str
    version: int
    max_attempts: int
    backoff_initial: float
    backoff_max: float
    backoff_factor: float
    backoff_jitter: float
    lease: float
    concurrency: int
    schedule_batch_size: int
    recovery_batch_size: int

    @property
    def service_key(self) -> str:
        """`<service>.v<N>`: the version of the service whose handler runs these messages."""
        return service_key(self.service, self.version)


@dataclass(frozen=True)
class WorkerInfo:
    """A worker process of the project: its command line and how long it may take to stop."""

    name: str
    args: tuple[str, ...]
    grace_period: int


@dataclass(frozen=True)
class Route:
    """One subscription of an event: its task and durable queue."""

    task: str
    queue: str


@dataclass(frozen=True)
class Field:
    """A payload property the gateway fills from a path or query parameter (text in the URL)."""

    name: str
    kind: Literal["string", "integer", "number", "boolean"]
    array: bool = False


@dataclass(frozen=True)
class HttpRoute:
    """A command or job queue served by the HTTP gateway.

    `target` is the command's task name or the queue's name; `params` are the path's
    `{param}`s and `query` the fields a GET takes from the query string.
    """

    method: str
    path: str
    kind: Literal["command", "queue"]
    target: str
    public: bool
    params: tuple[Field, ...] = ()
    query: tuple[Field, ...] = ()


@dataclass(frozen=True)
class GatewayInfo:
    """The spec's `infrastructure.gateway`: port, requests at once, largest body."""

    port: int
    concurrency: int
    max_body: int


@dataclass(frozen=True)
class Tracing:
    """The spec's `tracing` block: defaults for the `OTEL_*` variables."""

    exporter: str
    endpoint: str
    sample_ratio: float


@dataclass(frozen=True)
class ScheduleInfo:
    """A schedule: when it fires (`cron` in `timezone`, or `every` seconds), what and how.

    `kind` is `enqueue`, `invoke` or `emit`, and `target` the queue, command or event.
    """

    name: str
    cron: str | None
    every: int | None
    timezone: str
    kind: Literal["enqueue", "invoke", "emit"]
    target: str
    payload: dict[str, Any]
    missed: Literal["skip", "run_once"]
