# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""The shapes of what the spec says about a project; `project.py` holds the values.

`project.py` is the one module of the runtime that `purista generate` renders from
the spec; every other module is the same in every project.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: The project's import package (`<package>` in `python -m <package>`).
PACKAGE = __name__.split(".")[0]


@dataclass(frozen=True)
class ServiceInfo:
    """A service: the queues its worker consumes and the module registering its tasks."""

    name: str
    version: int
    queue: str
    consumes: tuple[str, ...]
    tasks_module: str
    pool: Literal["prefork", "threads"]
    concurrency: int
    state_ttl: int | None
    uses_database: bool


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
    max_attempts: int
    backoff_initial: float
    backoff_max: float
    backoff_factor: float
    backoff_jitter: float
    lease: float
    concurrency: int
    schedule_batch_size: int
    recovery_batch_size: int


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
