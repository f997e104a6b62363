"""The workers a project runs, how they are deployed, and the connections they need."""

from __future__ import annotations

import math
from typing import Literal
from urllib.parse import urlsplit

from purista.plan.capacity import budget, capacity
from purista.plan.model import Autoscale, Deploy, Gateway, PoolKind, Project, Service, Worker
from purista.spec import models as spec
from purista.spec.names import KubeName

# Seconds a worker gets, beyond its longest handler, to stop consuming, finish,
# acknowledge and exit after SIGTERM; part of terminationGracePeriodSeconds.
SHUTDOWN_WINDOW = 30
# The longest a scheduler keeps trying to send one firing while Redis cannot take it.
SCHEDULER_SEND_PATIENCE = 10


def build_deploy(model: spec.Spec, project: Project, services: tuple[Service, ...]) -> Deploy:
    """Every worker of the project, with its capacity, and the budgets they share."""
    infra = model.infrastructure
    workers: list[Worker] = []
    blocks = {(v.name, v.version): v.block for v in spec.service_versions(model)}
    for service in services:
        dep = blocks[service.name, service.version].deployment
        autoscale = (
            Autoscale(
                dep.autoscale.min_replicas,
                dep.autoscale.max_replicas,
                dep.autoscale.target_queue_length,
            )
            if dep.autoscale
            else None
        )
        if service.commands or service.subscriptions:
            timeout = max(h.timeout for h in service.commands + service.subscriptions)
            workers.append(
                _worker(
                    service,
                    kind="service",
                    name=service.name,
                    kube_name=service.kube_name,
                    args=("worker", service.key),
                    lists=service.consumes,
                    pool=dep.pool,
                    concurrency=dep.concurrency,
                    longest=timeout,
                    autoscale=autoscale,
                )
            )
        for queue in service.queues:
            assert queue.settings is not None
            workers.append(
                _worker(
                    service,
                    kind="queue",
                    name=queue.name,
                    kube_name=KubeName(project.name, queue.name, "jobs"),
                    args=("worker", "--queue", queue.name),
                    lists=(f"{queue.queue}:pending",),
                    pool="threads",
                    concurrency=queue.settings.concurrency,
                    longest=queue.settings.lease,
                    autoscale=autoscale,
                )
            )
    if model.schedules:
        workers.append(_scheduler(model, project))
    gateway = _gateway(model, project, services)
    if gateway is not None:
        workers.append(gateway)
    database = None
    if infra.database is not None:
        database = budget(
            workers,
            lambda w: w.capacity.db_connections_at_max,
            infra.database.max_connections,
            infra.database.reserved_connections,
        )
    kube = infra.kubernetes
    redis_db = urlsplit(infra.redis.url).path.strip("/")
    return Deploy(
        namespace=kube.namespace or project.kube_name,
        image=kube.image or project.kube_name,
        tag=kube.tag,
        workers=tuple(workers),
        database=database,
        redis=budget(
            workers, lambda w: w.capacity.redis_connections_at_max, infra.redis.max_connections
        ),
        redis_port=_port(infra.redis.url, 6379),
        redis_db=int(redis_db) if redis_db.isdigit() else 0,
        database_port=_port(infra.database.url, 5432) if infra.database else None,
        otel_port=_port(infra.tracing.endpoint, 4317),
        shutdown_window=SHUTDOWN_WINDOW,
        gateway=Gateway(
            port=infra.gateway.port,
            concurrency=infra.gateway.concurrency,
            max_body=infra.gateway.max_body,
        ),
    )


#: The gateway's autoscaler starts at most this many times its `replicas` unless told.
GATEWAY_SCALE = 3


def _gateway(model: spec.Spec, project: Project, services: tuple[Service, ...]) -> Worker | None:
    """The gateway's deployment, when a command or queue is served over HTTP."""
    routed = [h for s in services for h in s.handlers if h.http is not None]
    if not routed:
        return None
    gw = model.infrastructure.gateway
    max_replicas = gw.max_replicas or gw.replicas * GATEWAY_SCALE
    longest = max((h.timeout for h in routed if h.kind == "command"), default=0.0)
    return Worker(
        name="gateway",
        kind="gateway",
        service="gateway",
        version=0,
        kube_name=KubeName(project.name, "gateway"),
        args=("gateway",),
        lists=(),
        replicas=gw.replicas,
        max_replicas=max_replicas,
        autoscale=None,
        pool="threads",
        concurrency=gw.concurrency,
        cpu=gw.resources.cpu,
        memory=gw.resources.memory,
        longest_timeout=longest,
        grace_period=math.ceil(longest) + SHUTDOWN_WINDOW,
        uses_database=False,
        capacity=capacity("gateway", "threads", gw.concurrency, max_replicas, uses_database=False),
    )


def _worker(
    service: Service,
    *,
    kind: Literal["service", "queue"],
    name: str,
    kube_name: str,
    args: tuple[str, ...],
    lists: tuple[str, ...],
    pool: PoolKind,
    concurrency: int,
    longest: float,
    autoscale: Autoscale | None,
) -> Worker:
    dep = service.deployment
    max_replicas = autoscale.max_replicas if autoscale else dep.replicas
    return Worker(
        name=name,
        kind=kind,
        service=service.name,
        version=service.version,
        kube_name=kube_name,
        args=args,
        lists=lists,
        replicas=dep.replicas,
        max_replicas=max_replicas,
        autoscale=autoscale,
        pool=pool,
        concurrency=concurrency,
        cpu=dep.cpu,
        memory=dep.memory,
        longest_timeout=longest,
        grace_period=math.ceil(longest) + SHUTDOWN_WINDOW,
        uses_database=service.uses_database,
        capacity=capacity(
            kind, pool, concurrency, max_replicas, uses_database=service.uses_database
        ),
    )


def _scheduler(model: spec.Spec, project: Project) -> Worker:
    """`python -m <package> scheduler`: one process, no handlers, no autoscaling."""
    scheduler = model.infrastructure.scheduler
    return Worker(
        name="scheduler",
        kind="scheduler",
        service="",
        version=0,
        kube_name=KubeName(project.name, "scheduler"),
        args=("scheduler",),
        lists=(),
        replicas=scheduler.replicas,
        max_replicas=scheduler.replicas,
        autoscale=None,
        pool="threads",
        concurrency=1,
        cpu=scheduler.resources.cpu,
        memory=scheduler.resources.memory,
        longest_timeout=SCHEDULER_SEND_PATIENCE,
        grace_period=SCHEDULER_SEND_PATIENCE + SHUTDOWN_WINDOW,
        uses_database=False,
        capacity=capacity("scheduler", "threads", 1, scheduler.replicas, uses_database=False),
    )


def _port(url: str, default: int) -> int:
    try:
        return urlsplit(url).port or default
    except ValueError:
        return default
