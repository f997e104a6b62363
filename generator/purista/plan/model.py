"""The plan: every name, path, queue and number the templates need, as frozen values.

Templates see only these objects; nothing here refers back to the spec models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Owner = Literal["generated", "user", "merged"]
HandlerKind = Literal["command", "subscription", "queue"]
WorkerKind = Literal["service", "queue", "scheduler", "gateway"]
PoolKind = Literal["prefork", "threads"]


@dataclass(frozen=True)
class CommandLink:
    """What a caller needs to invoke a command: `context.invoke.<service>.v<N>.<command>`."""

    task: str
    queue: str
    service_ident: str
    service_class: str
    version: int
    ident: str
    timeout: float
    payload_class: str
    output_class: str
    models_module: str
    models_alias: str
    example_output: str | None


@dataclass(frozen=True)
class EventLink:
    """What a publisher needs to emit an event: `context.emit.<event>`."""

    name: str
    ident: str
    class_name: str


@dataclass(frozen=True)
class QueueLink:
    """What a producer needs to enqueue a job: `context.queue.enqueue.<queue>`."""

    name: str
    ident: str
    payload_class: str
    models_module: str
    models_alias: str


@dataclass(frozen=True)
class QueueSettings:
    """How a job queue (or a subscription's delivery) retries, leases and batches.

    For a subscription, `lease` is the handler's timeout.
    """

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
class HandlerAlerts:
    """A command's own alert thresholds (None: its service's)."""

    error_rate: float | None
    latency: float | None


@dataclass(frozen=True)
class AlertSettings:
    """A service's alert thresholds: failure share, p99 share of the timeout, minutes, events."""

    error_rate: float = 0.05
    latency: float = 0.8
    backlog_for: int = 10
    lag: int = 1000
    pool_waiting_for: int = 5


@dataclass(frozen=True)
class Route:
    """One subscriber of an event: the task and queue an emit is sent to."""

    task: str
    queue: str


@dataclass(frozen=True)
class HttpField:
    """A payload property filled from a path or query parameter."""

    name: str
    kind: str  # string, integer, number or boolean
    array: bool = False


@dataclass(frozen=True)
class HttpRoute:
    """A command or job queue the HTTP gateway serves."""

    method: str
    path: str
    public: bool
    kind: Literal["command", "queue"]
    target: str  # the command's task, or the queue's name
    params: tuple[HttpField, ...]
    query: tuple[HttpField, ...]
    #: A path with each `{param}` filled from the example payload, and the body (or query
    #: string) that goes with it, for the README's `curl` lines.
    example_path: str
    example_body: str | None


@dataclass(frozen=True)
class Handler:
    """A user-owned handler and everything generated around it."""

    kind: HandlerKind
    name: str
    ident: str
    class_prefix: str
    description: str
    service: str
    service_ident: str
    version: int
    task: str
    queue: str
    module: str
    path: str
    test_path: str
    context_class: str
    payload_class: str
    payload_module: str
    output_class: str | None
    timeout: float
    success_event: EventLink | None
    event: EventLink | None
    invokes: tuple[CommandLink, ...]
    emits: tuple[EventLink, ...]
    enqueues: tuple[QueueLink, ...]
    example_payload: str | None
    required_field: str | None
    settings: QueueSettings | None = None
    alerts: HandlerAlerts | None = None
    http: HttpRoute | None = None


@dataclass(frozen=True)
class Event:
    """An event and every subscription that receives it."""

    name: str
    ident: str
    class_name: str
    description: str
    schema: str
    routes: tuple[Route, ...]
    example_payload: str | None = None


@dataclass(frozen=True)
class Deployment:
    """How a service's worker runs."""

    replicas: int
    max_replicas: int
    concurrency: int
    pool: PoolKind
    cpu: str
    memory: str


@dataclass(frozen=True)
class Service:
    """A versioned service: its queues, handlers and deployment."""

    name: str
    ident: str
    kube_name: str
    version: int
    description: str
    queue: str
    module: str
    path: str
    uses_database: bool
    state_ttl: int | None
    deployment: Deployment
    commands: tuple[Handler, ...]
    subscriptions: tuple[Handler, ...]
    queues: tuple[Handler, ...]
    models: tuple[tuple[str, str], ...]
    alerts: AlertSettings = AlertSettings()

    @property
    def key(self) -> str:
        """`<service>.v<N>`: how the project's runtime and `worker` name this version."""
        return f"{self.name}.v{self.version}"

    @property
    def handlers(self) -> tuple[Handler, ...]:
        """Commands, subscriptions and queues, in that order."""
        return self.commands + self.subscriptions + self.queues

    @property
    def consumes(self) -> tuple[str, ...]:
        """The Celery queues `worker <service>` consumes: commands and subscriptions."""
        return (self.queue, *(s.queue for s in self.subscriptions))


@dataclass(frozen=True)
class Schedule:
    """A message sent on a timetable by `python -m <package> scheduler`."""

    name: str
    description: str
    cron: str | None
    every: int | None
    timezone: str
    kind: Literal["enqueue", "invoke", "emit"]
    target: str
    payload: str  # the constant payload, as JSON
    missed: Literal["skip", "run_once"]

    @property
    def when(self) -> str:
        """The timetable in words, for the README."""
        if self.cron is not None:
            return f"cron `{self.cron}` ({self.timezone})"
        return f"every {self.every} s"


@dataclass(frozen=True)
class Project:
    """Project-wide names and infrastructure defaults."""

    name: str
    package: str
    kube_name: str
    description: str
    redis_url: str
    redis_max_connections: int
    database_url: str | None
    tracing_exporter: str
    tracing_endpoint: str
    tracing_sample_ratio: float
    generator_version: str


@dataclass(frozen=True)
class Autoscale:
    """Scaling on the length of the Redis lists a worker consumes (a KEDA ScaledObject)."""

    min_replicas: int
    max_replicas: int
    target_queue_length: int


@dataclass(frozen=True)
class Capacity:
    """Connections one worker opens: per process, per instance and at its max replicas.

    `processes` are the processes that run handlers (a prefork worker's children, or
    the one process of a threads or job-queue worker); `redis_consumer` is what the
    instance holds besides them (Celery's consumer, or a job worker's lease keeper).
    """

    processes: int
    db_pool_per_process: int
    db_connections_per_instance: int
    db_connections_at_max: int
    redis_consumer: int
    redis_per_process: int
    redis_connections_per_instance: int
    redis_connections_at_max: int


@dataclass(frozen=True)
class Worker:
    """One kind of worker process: a service's Celery worker or a job queue's worker."""

    name: (
        str  # the service's or the queue's name, as the spec spells it (or `scheduler`, `gateway`)
    )
    kind: WorkerKind
    service: str
    version: int
    kube_name: str
    args: tuple[str, ...]  # after `python -m <package>`
    lists: tuple[str, ...]  # the Redis lists it takes work from, its own queue first
    replicas: int
    max_replicas: int
    autoscale: Autoscale | None
    pool: PoolKind
    concurrency: int
    cpu: str
    memory: str
    longest_timeout: float  # of any handler it runs (a job queue: its lease)
    grace_period: int  # terminationGracePeriodSeconds
    uses_database: bool
    capacity: Capacity


@dataclass(frozen=True)
class Gateway:
    """The HTTP gateway: where it listens and how much it takes at once."""

    port: int
    concurrency: int
    max_body: int


@dataclass(frozen=True)
class Budget:
    """Connections of every worker at max replicas against what a server allows."""

    max_connections: int
    reserved_connections: int
    used_at_max: int
    users: tuple[tuple[str, int], ...]  # worker and its connections at max, largest first

    @property
    def budget(self) -> int:
        """What the workers may use: the server's limit less what is reserved."""
        return self.max_connections - self.reserved_connections

    @property
    def ok(self) -> bool:
        """Whether the workers fit."""
        return self.used_at_max <= self.budget


@dataclass(frozen=True)
class Deploy:
    """Where and how the project runs: workers, budgets, image and network ports."""

    namespace: str
    image: str
    tag: str
    workers: tuple[Worker, ...]
    database: Budget | None
    redis: Budget
    redis_port: int
    redis_db: int
    database_port: int | None
    otel_port: int
    shutdown_window: int
    gateway: Gateway = Gateway(8080, 40, 1024 * 1024)

    @property
    def ok(self) -> bool:
        """Whether every budget holds at max replicas."""
        return self.redis.ok and (self.database is None or self.database.ok)

    @property
    def gateway_worker(self) -> Worker | None:
        """The gateway's deployment, when something is served over HTTP."""
        return next((w for w in self.workers if w.kind == "gateway"), None)

    @property
    def autoscaled(self) -> tuple[Worker, ...]:
        """The workers KEDA scales."""
        return tuple(w for w in self.workers if w.autoscale is not None)

    @property
    def uses_database(self) -> bool:
        """Whether any worker opens database connections."""
        return any(w.uses_database for w in self.workers)


@dataclass(frozen=True)
class File:
    """One file of the project: where it goes, what renders it and who owns it."""

    path: str
    template: str | None  # None: copied from the runtime (`source`) or written by the models stage
    owner: Owner
    service: str | None = None
    handler: str | None = None
    worker: str | None = None  # the kube name of a worker, for per-worker files
    source: str | None = None  # a runtime module copied byte for byte
    version: int | None = None  # of `service`


@dataclass(frozen=True)
class Plan:
    """Everything the render, models and write stages need, and nothing more."""

    project: Project
    events: tuple[Event, ...]
    services: tuple[Service, ...]
    deploy: Deploy
    files: tuple[File, ...]
    spec_text: str
    #: The command the spec lists first (services and commands in the order written):
    #: the one the README invokes.
    first_command: Handler | None = None
    schedules: tuple[Schedule, ...] = ()

    def service(self, name: str, version: int | None = None) -> Service:
        """Version `version` of the service called `name` (its lowest version by default)."""
        return next(s for s in self.services if s.name == name and version in (None, s.version))

    @property
    def side_by_side(self) -> dict[str, tuple[int, ...]]:
        """The services with several live versions, and their versions."""
        versions: dict[str, tuple[int, ...]] = {}
        for s in self.services:
            versions[s.name] = (*versions.get(s.name, ()), s.version)
        return {name: numbers for name, numbers in versions.items() if len(numbers) > 1}

    @property
    def routes(self) -> tuple[HttpRoute, ...]:
        """Every route the gateway serves, in the order of the services and handlers."""
        return tuple(h.http for s in self.services for h in s.handlers if h.http is not None)

    def worker(self, kube_name: str) -> Worker:
        """The worker whose Kubernetes name is `kube_name`."""
        return next(w for w in self.deploy.workers if w.kube_name == kube_name)
