"""The spec format (`purista.yaml`) as pydantic models: frozen, unknown keys forbidden."""

from __future__ import annotations

from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from purista.spec.names import NAME_MAX_LENGTH, NAME_PATTERN

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN, max_length=NAME_MAX_LENGTH)]
CommandRef = Annotated[str, Field(description="`<service>.v<N>.<command>`")]
# A JSON Schema (draft 2020-12 or draft 7), inline or a `$ref` to a file; each field says which.
JsonSchema = dict[str, Any]
QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$"
KUBE_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
IMAGE_PATTERN = r"^[a-z0-9]+([._/:-][a-z0-9]+)*$"
TAG_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
Quantity = Annotated[str, StringConstraints(pattern=QUANTITY_PATTERN)]
URL_PATTERN = r"^[^\s`]+$"
Url = Annotated[str, StringConstraints(pattern=URL_PATTERN)]
_SEGMENT = r"([A-Za-z0-9._~-]+|\{[A-Za-z][A-Za-z0-9_-]*\})"
HTTP_PATH_PATTERN = rf"^(/|(/{_SEGMENT})+)$"


def _object_schema() -> dict[str, Any]:
    return {"type": "object"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class Project(_Model):
    """What the project is called; the package name is derived from `name`."""

    name: Name
    """The project's name; the Python package (`my-shop` → `my_shop`), the Kubernetes names and
    the queue prefix derive from it."""
    description: str = ""
    """One line about the project, for the generated README and `pyproject.toml`."""


class Redis(_Model):
    """The broker, result backend and state store (env `REDIS_URL` overrides `url`)."""

    url: Url = "redis://localhost:6379/0"
    """Where the workers find Redis; `REDIS_URL` (or the file in `REDIS_URL_FILE`) overrides it."""
    max_connections: Annotated[int, Field(ge=1)] = 10000
    """The server's client limit: `purista plan` checks every worker at max replicas against it."""


class Database(_Model):
    """A PostgreSQL database shared by the services that set `uses_database`."""

    url: Url
    """The PostgreSQL URL; `DATABASE_URL` (or the file in `DATABASE_URL_FILE`) overrides it."""
    max_connections: Annotated[int, Field(ge=1)] = 100
    """The server's `max_connections`: the budget `purista plan` checks the pools against."""
    reserved_connections: Annotated[int, Field(ge=0)] = 10
    """Connections kept free for others (migrations, a console): the budget is the difference."""

    @model_validator(mode="after")
    def _reserve_less_than_max(self) -> Database:
        if self.reserved_connections >= self.max_connections:
            raise ValueError("reserved_connections must be less than max_connections")
        return self


class Tracing(_Model):
    """Defaults for OpenTelemetry; the standard `OTEL_*` variables override them."""

    exporter: Literal["otlp", "console", "none"] = "otlp"
    """Where spans and metrics go; `otlp` exports only where `OTEL_EXPORTER_OTLP_ENDPOINT` or
    `OTEL_TRACES_EXPORTER=otlp` is set (as in compose and Kubernetes), `console` prints them."""
    endpoint: Url = "http://localhost:4317"
    """The OTLP collector (gRPC unless `OTEL_EXPORTER_OTLP_PROTOCOL` says `http/protobuf`)."""
    sample_ratio: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    """The share of new traces recorded; a message follows its caller's decision."""


class Kubernetes(_Model):
    """Where and from which image the project is deployed.

    Defaults: the namespace and image are named after the project; the tag is the
    generated project's first version, `0.1.0` (never `latest`, which a cluster
    cannot pin). Overlays set the tag or digest of each release.
    """

    namespace: Annotated[str, StringConstraints(pattern=KUBE_LABEL_PATTERN)] | None = None
    """The namespace of every object; default: the project's name as a Kubernetes name."""
    image: Annotated[str, StringConstraints(pattern=IMAGE_PATTERN)] | None = None
    """The container image, without its tag; default: the project's name as a Kubernetes name."""
    tag: Annotated[str, StringConstraints(pattern=TAG_PATTERN)] = "0.1.0"
    """The image tag the base manifests use; overlays set each release's tag or digest."""


class Resources(_Model):
    """Requests (and limits) of one instance."""

    cpu: Quantity = "100m"
    """CPU request and limit of one instance (a Kubernetes quantity)."""
    memory: Quantity = "128Mi"
    """Memory request and limit of one instance (a Kubernetes quantity)."""


class Scheduler(_Model):
    """The scheduler's own Deployment: `python -m <package> scheduler`."""

    replicas: Annotated[int, Field(ge=1)] = 2
    """Scheduler instances; each occurrence fires once however many run (a Redis claim each)."""
    resources: Resources = Resources()
    """CPU and memory of one scheduler instance."""


class GatewayResources(_Model):
    """Requests (and limits) of one gateway instance."""

    cpu: Quantity = "250m"
    """CPU request and limit of one gateway instance (a Kubernetes quantity)."""
    memory: Quantity = "256Mi"
    """Memory request and limit of one gateway instance (a Kubernetes quantity)."""


class Gateway(_Model):
    """The HTTP gateway: serves the commands and queues that declare `http`."""

    replicas: Annotated[int, Field(ge=1)] = 2
    """Instances of the gateway; the CPU autoscaler keeps at least this many."""
    max_replicas: Annotated[int, Field(ge=1)] | None = None
    """The most instances the CPU autoscaler starts (default: three times `replicas`);
    `purista plan` counts connections at this number."""
    port: Annotated[int, Field(ge=1024, le=65535)] = 8080
    """The port the gateway listens on, in its container and behind its Service."""
    concurrency: Annotated[int, Field(ge=1, le=1000)] = 40
    """Requests one instance handles at once (threads waiting on commands and Redis)."""
    max_body: Annotated[int, Field(ge=1)] = 1024 * 1024
    """The largest request body, in bytes; a larger one is refused with 413."""
    resources: GatewayResources = GatewayResources()
    """CPU and memory of one instance."""

    @model_validator(mode="after")
    def _max_not_below_replicas(self) -> Gateway:
        if self.max_replicas is not None and self.max_replicas < self.replicas:
            raise ValueError("max_replicas must not be less than replicas")
        return self


class Infrastructure(_Model):
    """Shared infrastructure of every service."""

    redis: Redis = Redis()
    """The one Redis server: broker, result backend, job queues and state stores."""
    database: Database | None = None
    """A PostgreSQL database; without it no service may set `uses_database`."""
    # Without a `tracing` block nothing is exported until OTEL_* variables say so.
    tracing: Tracing = Tracing(exporter="none")
    """OpenTelemetry defaults; without this block nothing is exported unless `OTEL_*` says so."""
    kubernetes: Kubernetes = Kubernetes()
    """Namespace, image and tag of the generated manifests."""
    scheduler: Scheduler = Scheduler()
    """Replicas and resources of the scheduler (deployed only when the spec has `schedules`)."""
    gateway: Gateway = Gateway()
    """The HTTP gateway, deployed when a command or queue declares `http`."""


class Event(_Model):
    """An event: published by `can_emit` or `success_event`, consumed by subscriptions."""

    description: str = ""
    """What happened, for docstrings and the README."""
    payload: JsonSchema = Field(default_factory=_object_schema)
    """The event's data: a JSON Schema of an object, inline or a `$ref` to a file."""


class Autoscale(_Model):
    """Scale on the length of the service's queue."""

    min_replicas: Annotated[int, Field(ge=0)] = 1
    """The fewest instances KEDA keeps (0: scale to zero when the queues are empty)."""
    max_replicas: Annotated[int, Field(ge=1)]
    """The most instances KEDA starts; `purista plan` counts connections at this number."""
    target_queue_length: Annotated[int, Field(ge=1)] = 50
    """Waiting messages per instance KEDA aims at."""

    @model_validator(mode="after")
    def _min_not_above_max(self) -> Autoscale:
        if self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas must not be greater than max_replicas")
        return self


class Deployment(_Model):
    """How a service runs: instances, parallel jobs per instance, pool kind."""

    replicas: Annotated[int, Field(ge=0)] = 1
    """Instances of the service's worker; with `autoscale`, where each apply starts, within
    its bounds."""
    concurrency: Annotated[int, Field(ge=1, le=1000)] = 4
    """Messages one instance handles at once: child processes (prefork) or threads."""
    pool: Literal["prefork", "threads"] = "prefork"
    """`prefork` (a process per slot; a hung handler is killed) or `threads` (one process)."""
    resources: Resources = Resources()
    """CPU and memory of one instance."""
    autoscale: Autoscale | None = None
    """Scale with KEDA on the length of the service's queues instead of fixed `replicas`."""


class Http(_Model):
    """Where a command or job queue is served by the HTTP gateway."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    """The HTTP method; GET only for a command whose payload fits in a query string."""
    path: Annotated[str, StringConstraints(pattern=HTTP_PATH_PATTERN)]
    """The route, such as `/users/{userId}`: each `{param}` fills the payload property of that
    name, which must be a string, integer, number or boolean."""
    public: bool = False
    """Serve it without calling `gateway_auth.authenticate` (anyone may call it)."""


class _Handler(_Model):
    description: str = ""
    """What the handler does, for its docstring and the README."""
    can_invoke: list[CommandRef] = Field(default_factory=list)
    """Commands of other services it may call: `context.invoke.<service>.v<N>.<command>`."""
    can_emit: list[Name] = Field(default_factory=list)
    """Events the handler may publish: `context.emit.<event>`."""
    can_enqueue: list[Name] = Field(default_factory=list)
    """Job queues the handler may add jobs to: `context.queue.enqueue.<queue>`."""


class CommandAlerts(_Model):
    """Thresholds of one command's alerts; what is not set here comes from its service's."""

    error_rate: Annotated[float, Field(gt=0, le=1)] | None = None
    """The share of failed calls over 5 minutes above which the command's error alert fires."""
    latency: Annotated[float, Field(gt=0, le=1)] | None = None
    """The share of the command's `timeout` its p99 duration may reach before its alert fires."""


class ServiceAlerts(_Model):
    """Thresholds of the alerts generated for a service (`k8s/base/alerts.yaml`)."""

    error_rate: Annotated[float, Field(gt=0, le=1)] = 0.05
    """The share of a handler's messages failing over 5 minutes above which its alert fires."""
    latency: Annotated[float, Field(gt=0, le=1)] = 0.8
    """The share of a command's `timeout` its p99 duration may reach before its alert fires."""
    backlog_for: Annotated[int, Field(ge=1, le=1440)] = 10
    """Minutes the command queue's backlog may grow before its alert fires."""
    lag: Annotated[int, Field(ge=1)] = 1000
    """Events waiting for one subscription above which its lag alert fires (after 5 minutes)."""
    pool_waiting_for: Annotated[int, Field(ge=1, le=1440)] = 5
    """Minutes handlers may wait for database connections before the pool alert fires."""


class Command(_Handler):
    """A request with a response: `<service>.v<N>.<command>` on the wire."""

    timeout: Annotated[float, Field(gt=0, le=86400)] = 30
    """Seconds a caller waits for the output; on the prefork pool, also the handler's time limit."""
    payload: JsonSchema = Field(default_factory=_object_schema)
    """The command's input: a JSON Schema of an object, inline or a `$ref` to a file."""
    output: JsonSchema = Field(default_factory=_object_schema)
    """The command's answer: a JSON Schema of an object, inline or a `$ref` to a file."""
    success_event: Name | None = None
    """An event published with the command's output each time it succeeds; the output must
    satisfy the event's schema."""
    alerts: CommandAlerts | None = None
    """This command's own alert thresholds, in place of its service's."""
    http: Http | None = None
    """Serve the command over HTTP through the gateway (answers 200 with its output)."""


class Backoff(_Model):
    """Exponential backoff between attempts of a job or of an event's delivery."""

    initial: Annotated[float, Field(gt=0)] = 1
    """Seconds before the second attempt."""
    max: Annotated[float, Field(gt=0)] = 120
    """The longest wait between two attempts, in seconds."""
    factor: Annotated[float, Field(ge=1)] = 2
    """Each wait is the previous one times this."""
    jitter: Annotated[float, Field(ge=0, le=1)] = 0.25
    """A random share of each wait added or taken away, so retries spread out."""


class Subscription(_Handler):
    """Consumes every event of one kind, once per subscribing service.

    A handler that raises (or whose worker is lost) gets the event again after a
    backoff, up to `max_attempts` runs in all; then the event waits in the
    subscription's dead-letter list. `timeout` bounds one run of the handler.
    """

    event: Name
    """The event (a key of `events`) this subscription consumes."""
    timeout: Annotated[float, Field(gt=0, le=86400)] = 30
    """Seconds one run of the handler may take."""
    max_attempts: Annotated[int, Field(ge=1)] = 5
    """Runs in all before the event is parked in the dead-letter list."""
    backoff: Backoff = Backoff()
    """The wait between attempts."""


class Queue(_Handler):
    """A job queue for long work: leases, retries, delays and a dead-letter list."""

    payload: JsonSchema = Field(default_factory=_object_schema)
    """A job's data: a JSON Schema of an object, inline or a `$ref` to a file."""
    max_attempts: Annotated[int, Field(ge=1)] = 3
    """Runs of a job in all before it goes to the dead-letter list."""
    backoff: Backoff = Backoff()
    """The wait between attempts."""
    lease: Annotated[float, Field(gt=0)] = 300
    """Seconds before a job whose worker stopped renewing it (it renews every third of
    this while it lives) is run again by another worker."""
    concurrency: Annotated[int, Field(ge=1, le=1000)] = 1
    """Jobs one instance of the queue's worker runs at once (threads)."""
    schedule_batch_size: Annotated[int, Field(ge=1)] = 50
    """Delayed jobs moved to the pending list per Redis call once they are due."""
    recovery_batch_size: Annotated[int, Field(ge=1)] = 20
    """Jobs with an expired lease taken back per Redis call."""
    http: Http | None = None
    """Accept jobs over HTTP through the gateway (answers 202 with the job's id)."""


class Schedule(_Model):
    """A message sent on a timetable: a job enqueued, a command invoked or an event emitted.

    Exactly one of `cron` and `every`, and exactly one of `enqueue`, `invoke` and `emit`.
    Each occurrence fires once however many schedulers run.
    """

    description: str = ""
    """What the schedule is for, for the README."""
    cron: str | None = None
    """A cron expression of 5 fields (minute hour day-of-month month day-of-week), read in
    `timezone`: `0 3 * * *` is 03:00 every day."""
    every: Annotated[int, Field(ge=1, le=366 * 86400)] | None = None
    """Seconds between occurrences, counted from the Unix epoch (so every scheduler computes
    the same times): `every: 300` fires at :00, :05, :10, ... of each hour, in UTC."""
    timezone: str = "UTC"
    """The IANA time zone `cron` is read in (`Europe/Berlin`); not used with `every`."""
    enqueue: Name | None = None
    """The job queue a job is added to (its idempotency key is the occurrence id)."""
    invoke: CommandRef | None = None
    """The command sent, `<service>.v<N>.<command>`; nobody waits for its output."""
    emit: Name | None = None
    """The event published."""
    payload: dict[str, Any] = Field(default_factory=dict)
    """The constant payload sent each time; it must satisfy the target's schema."""
    missed: Literal["skip", "run_once"] = "skip"
    """Occurrences missed while no scheduler ran: `skip` them, or `run_once` for the whole gap."""


class Version(_Model):
    """One version of a service: its worker, commands, subscriptions and job queues."""

    description: str = ""
    """What the service (or this version of it) is for, for docstrings and the README."""
    deployment: Deployment = Deployment()
    """How the worker of this version runs."""
    uses_database: bool = False
    """Give the handlers `context.resources.db`, a pool on `infrastructure.database`."""
    state_ttl: Annotated[int, Field(ge=1)] | None = None
    """Default seconds a state-store entry lives (none: until removed)."""
    commands: dict[Name, Command] = Field(default_factory=dict)
    """Requests with a response, by name."""
    subscriptions: dict[Name, Subscription] = Field(default_factory=dict)
    """Event consumers, by name; each subscribing version gets every event on a queue of its own."""
    queues: dict[Name, Queue] = Field(default_factory=dict)
    """Job queues, by name (unique in the whole project, across every version)."""


VersionNumber = Annotated[int, Field(ge=1)]
#: The keys a service holds for one version; beside `versions` they are written per version.
VERSION_KEYS = ("deployment", "uses_database", "state_ttl", "commands", "subscriptions", "queues")


class _Inline(_Model):
    version: VersionNumber = 1
    """The `N` of `v<N>` in task names, queues and the package path (one version, inline)."""


class Service(Version, _Inline):  # fields in this order: `version`, the version keys, `versions`
    """A stateless service: one version written inline, or several side by side in `versions`."""

    versions: dict[VersionNumber, Version] = Field(
        default_factory=dict,
        min_length=1,
        json_schema_extra={"propertyNames": {"pattern": "^[1-9][0-9]*$"}},
    )
    """Several versions live at once, by number (`1:`, `2:`), each holding the keys above from
    `description` to `queues`, with its own worker, queues, handlers and state store; instead
    of `version` and those keys inline."""
    alerts: ServiceAlerts = ServiceAlerts()
    """Thresholds of the service's generated alerts (every version's); each has a default."""

    def live(self) -> dict[int, Version]:
        """Every version of the service, by number, in ascending order."""
        if not self.versions:
            return {self.version: self}
        return dict(sorted(self.versions.items()))


class ServiceVersion(NamedTuple):
    """One live version of a service, and where its block is in the spec."""

    name: str
    version: int
    block: Version
    path: tuple[str, ...]  # `services.<name>`, or `services.<name>.versions.<N>`
    description: str  # the version's own, else the service's
    service: Service  # the whole service, for what all its versions share (`alerts`)


def service_versions(spec: Spec) -> tuple[ServiceVersion, ...]:
    """Every version of every service, services in the spec's order, versions ascending.

    The one place that knows the two ways of writing a service: everything that goes
    through the spec's services, commands, subscriptions and queues starts here.
    """
    out: list[ServiceVersion] = []
    for name, svc in spec.services.items():
        for number, block in svc.live().items():
            path: tuple[str, ...] = ("services", name)
            if svc.versions:
                path = (*path, "versions", str(number))  # as the spec's keys are read
            description = block.description or svc.description
            out.append(ServiceVersion(name, number, block, path, description, svc))
    return tuple(out)


class Spec(_Model):
    """A whole `purista.yaml`."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
        title="purista spec",
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    spec_version: Literal[1]
    """The version of the spec format: 1."""
    project: Project
    """The project's name and description."""
    infrastructure: Infrastructure = Infrastructure()
    """Redis, the database, tracing and Kubernetes."""
    events: dict[Name, Event] = Field(default_factory=dict)
    """Events, by name."""
    services: Annotated[dict[Name, Service], Field(min_length=1)]
    """Services, by name; at least one."""
    schedules: dict[Name, Schedule] = Field(default_factory=dict)
    """Messages sent on a timetable, by name: `python -m <package> scheduler` fires them."""
