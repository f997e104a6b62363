"""The spec format (`purista.yaml`) as pydantic models: frozen, unknown keys forbidden."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from purista.spec.names import NAME_MAX_LENGTH, NAME_PATTERN

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN, max_length=NAME_MAX_LENGTH)]
CommandRef = Annotated[str, Field(description="`<service>.v<N>.<command>`")]
JsonSchema = Annotated[
    dict[str, Any],
    Field(description="A JSON Schema (draft 2020-12 or draft 7), inline or a `$ref` to a file."),
]
QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$"
KUBE_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
IMAGE_PATTERN = r"^[a-z0-9]+([._/:-][a-z0-9]+)*$"
TAG_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
Quantity = Annotated[str, StringConstraints(pattern=QUANTITY_PATTERN)]


def _object_schema() -> dict[str, Any]:
    return {"type": "object"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Project(_Model):
    """What the project is called; the package name is derived from `name`."""

    name: Name
    description: str = ""


class Redis(_Model):
    """The broker, result backend and state store (env `REDIS_URL` overrides `url`)."""

    url: str = "redis://localhost:6379/0"
    max_connections: Annotated[int, Field(ge=1)] = 10000


class Database(_Model):
    """A PostgreSQL database shared by the services that set `uses_database`."""

    url: str
    max_connections: Annotated[int, Field(ge=1)] = 100
    reserved_connections: Annotated[int, Field(ge=0)] = 10

    @model_validator(mode="after")
    def _reserve_less_than_max(self) -> Database:
        if self.reserved_connections >= self.max_connections:
            raise ValueError("reserved_connections must be less than max_connections")
        return self


class Tracing(_Model):
    """Defaults for OpenTelemetry; the standard `OTEL_*` variables override them."""

    exporter: Literal["otlp", "console", "none"] = "otlp"
    endpoint: str = "http://localhost:4317"
    sample_ratio: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0


class Kubernetes(_Model):
    """Where and from which image the project is deployed.

    Defaults: the namespace and image are named after the project; the tag is the
    generated project's first version, `0.1.0` (never `latest`, which a cluster
    cannot pin). Overlays set the tag or digest of each release.
    """

    namespace: Annotated[str, StringConstraints(pattern=KUBE_LABEL_PATTERN)] | None = None
    image: Annotated[str, StringConstraints(pattern=IMAGE_PATTERN)] | None = None
    tag: Annotated[str, StringConstraints(pattern=TAG_PATTERN)] = "0.1.0"


class Infrastructure(_Model):
    """Shared infrastructure of every service."""

    redis: Redis = Redis()
    database: Database | None = None
    # Without a `tracing` block nothing is exported until OTEL_* variables say so.
    tracing: Tracing = Tracing(exporter="none")
    kubernetes: Kubernetes = Kubernetes()


class Event(_Model):
    """An event: published by `can_emit` or `success_event`, consumed by subscriptions."""

    description: str = ""
    payload: JsonSchema = Field(default_factory=_object_schema)


class Resources(_Model):
    """Requests (and limits) of one instance."""

    cpu: Quantity = "100m"
    memory: Quantity = "128Mi"


class Autoscale(_Model):
    """Scale on the length of the service's queue."""

    min_replicas: Annotated[int, Field(ge=0)] = 1
    max_replicas: Annotated[int, Field(ge=1)]
    target_queue_length: Annotated[int, Field(ge=1)] = 50

    @model_validator(mode="after")
    def _min_not_above_max(self) -> Autoscale:
        if self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas must not be greater than max_replicas")
        return self


class Deployment(_Model):
    """How a service runs: instances, parallel jobs per instance, pool kind."""

    replicas: Annotated[int, Field(ge=0)] = 1
    concurrency: Annotated[int, Field(ge=1, le=1000)] = 4
    pool: Literal["prefork", "threads"] = "prefork"
    resources: Resources = Resources()
    autoscale: Autoscale | None = None


class _Handler(_Model):
    description: str = ""
    can_invoke: list[CommandRef] = Field(default_factory=list)
    can_emit: list[Name] = Field(default_factory=list)
    can_enqueue: list[Name] = Field(default_factory=list)


class Command(_Handler):
    """A request with a response: `<service>.v<N>.<command>` on the wire."""

    timeout: Annotated[float, Field(gt=0, le=86400)] = 30
    payload: JsonSchema = Field(default_factory=_object_schema)
    output: JsonSchema = Field(default_factory=_object_schema)
    success_event: Name | None = None


class Backoff(_Model):
    """Exponential backoff between attempts of a job or of an event's delivery."""

    initial: Annotated[float, Field(gt=0)] = 1
    max: Annotated[float, Field(gt=0)] = 120
    factor: Annotated[float, Field(ge=1)] = 2
    jitter: Annotated[float, Field(ge=0, le=1)] = 0.25


class Subscription(_Handler):
    """Consumes every event of one kind, once per subscribing service.

    A handler that raises (or whose worker is lost) gets the event again after a
    backoff, up to `max_attempts` runs in all; then the event waits in the
    subscription's dead-letter list. `timeout` bounds one run of the handler.
    """

    event: Name
    timeout: Annotated[float, Field(gt=0, le=86400)] = 30
    max_attempts: Annotated[int, Field(ge=1)] = 5
    backoff: Backoff = Backoff()


class Queue(_Handler):
    """A job queue for long work: leases, retries, delays and a dead-letter list."""

    payload: JsonSchema = Field(default_factory=_object_schema)
    max_attempts: Annotated[int, Field(ge=1)] = 3
    backoff: Backoff = Backoff()
    lease: Annotated[float, Field(gt=0)] = 300
    concurrency: Annotated[int, Field(ge=1, le=1000)] = 1
    schedule_batch_size: Annotated[int, Field(ge=1)] = 50
    recovery_batch_size: Annotated[int, Field(ge=1)] = 20


class Service(_Model):
    """A stateless service: commands, subscriptions and job queues."""

    version: Annotated[int, Field(ge=1)] = 1
    description: str = ""
    deployment: Deployment = Deployment()
    uses_database: bool = False
    state_ttl: Annotated[int, Field(ge=1)] | None = None
    commands: dict[Name, Command] = Field(default_factory=dict)
    subscriptions: dict[Name, Subscription] = Field(default_factory=dict)
    queues: dict[Name, Queue] = Field(default_factory=dict)


class Spec(_Model):
    """A whole `purista.yaml`."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="purista spec",
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    spec_version: Literal[1]
    project: Project
    infrastructure: Infrastructure = Infrastructure()
    events: dict[Name, Event] = Field(default_factory=dict)
    services: Annotated[dict[Name, Service], Field(min_length=1)]
