"""Stage 3: derive every name, path, queue and number from a validated spec."""

from __future__ import annotations

import json
from typing import Any, Literal
from urllib.parse import quote, urlencode

from purista.paths import runtime_modules
from purista.plan.examples import example_for
from purista.plan.model import (
    AlertSettings,
    CommandLink,
    Deploy,
    Deployment,
    Event,
    EventLink,
    File,
    Handler,
    HandlerAlerts,
    HttpField,
    HttpRoute,
    Owner,
    Plan,
    Project,
    QueueLink,
    QueueSettings,
    Route,
    Schedule,
    Service,
)
from purista.plan.workers import build_deploy
from purista.spec import models as spec
from purista.spec.http import path_params, resolve, url_field
from purista.spec.names import ClassName, KubeName, PythonIdentifier

__all__ = ["Plan", "build_plan"]

#: Dead letters of a subscription moved (redriven, purged, listed) per Redis call.
SUBSCRIPTION_BATCH = 100


def build_plan(model: spec.Spec, spec_text: str, generator_version: str) -> Plan:
    """The plan of the project `model` describes."""
    project = _project(model, generator_version)
    pkg = project.package
    live = spec.service_versions(model)
    events = {
        name: EventLink(name, PythonIdentifier(name), ClassName(name, "Event"))
        for name in model.events
    }
    queues = {
        qname: QueueLink(
            qname,
            PythonIdentifier(qname),
            ClassName(qname, "Job"),
            f"{_service_module(pkg, v.name, v.version)}._generated.models",
            f"{PythonIdentifier(v.name)}_v{v.version}",
        )
        for v in live
        for qname in v.block.queues
    }
    commands = {
        f"{v.name}.v{v.version}.{cname}": CommandLink(
            task=f"{v.name}.v{v.version}.{cname}",
            queue=f"{project.name}.{v.name}.v{v.version}",
            service_ident=PythonIdentifier(v.name),
            service_class=ClassName(v.name),
            version=v.version,
            ident=PythonIdentifier(cname),
            timeout=cmd.timeout,
            payload_class=ClassName(cname, "Payload"),
            output_class=ClassName(cname, "Output"),
            models_module=f"{_service_module(pkg, v.name, v.version)}._generated.models",
            models_alias=f"{PythonIdentifier(v.name)}_v{v.version}",
            example_output=_example_json(cmd.output),
        )
        for v in live
        for cname, cmd in v.block.commands.items()
    }
    links = _Links(commands, events, queues, {n: e.payload for n, e in model.events.items()})
    services = tuple(
        _service(project, v, links) for v in sorted(live, key=lambda v: (v.name, v.version))
    )
    routes: dict[str, list[Route]] = {name: [] for name in model.events}
    for service in services:
        for sub in service.subscriptions:
            assert sub.event is not None
            routes[sub.event.name].append(Route(sub.task, sub.queue))
    plan_events = tuple(
        Event(
            name=name,
            ident=events[name].ident,
            class_name=events[name].class_name,
            description=event.description,
            schema=_canonical(event.payload),
            routes=tuple(routes[name]),
            example_payload=_example_json(event.payload),
        )
        for name, event in sorted(model.events.items())
    )
    deploy = build_deploy(model, project, services)
    files = _files(project, services, deploy)
    return Plan(
        project,
        plan_events,
        services,
        deploy,
        files,
        spec_text,
        _first(live, services),
        _schedules(model),
    )


def _schedules(model: spec.Spec) -> tuple[Schedule, ...]:
    """The schedules, by name; each has exactly one target (validation made sure)."""
    out = []
    for name, schedule in sorted(model.schedules.items()):
        kind: Literal["enqueue", "invoke", "emit"]
        if schedule.enqueue is not None:
            kind, target = "enqueue", schedule.enqueue
        elif schedule.invoke is not None:
            kind, target = "invoke", schedule.invoke
        else:
            kind, target = "emit", str(schedule.emit)
        out.append(
            Schedule(
                name=name,
                description=schedule.description,
                cron=schedule.cron,
                every=schedule.every,
                timezone=schedule.timezone,
                kind=kind,
                target=target,
                payload=json.dumps(schedule.payload, separators=(",", ":")),
                missed=schedule.missed,
            )
        )
    return tuple(out)


def _first(live: tuple[spec.ServiceVersion, ...], services: tuple[Service, ...]) -> Handler | None:
    """The command the spec lists first, in the order it is written (`services` is sorted)."""
    for v in live:
        for cname in v.block.commands:
            task = f"{v.name}.v{v.version}.{cname}"
            return next(c for s in services for c in s.commands if c.task == task)
    return None


class _Links:
    def __init__(
        self,
        commands: dict[str, CommandLink],
        events: dict[str, EventLink],
        queues: dict[str, QueueLink],
        event_schemas: dict[str, dict[str, Any]],
    ) -> None:
        self.commands = commands
        self.events = events
        self.queues = queues
        self.event_schemas = event_schemas


def _project(model: spec.Spec, generator_version: str) -> Project:
    infra = model.infrastructure
    return Project(
        name=model.project.name,
        package=PythonIdentifier(model.project.name),
        kube_name=KubeName(model.project.name),
        description=model.project.description,
        redis_url=infra.redis.url,
        redis_max_connections=infra.redis.max_connections,
        database_url=infra.database.url if infra.database else None,
        tracing_exporter=infra.tracing.exporter,
        tracing_endpoint=infra.tracing.endpoint,
        tracing_sample_ratio=infra.tracing.sample_ratio,
        generator_version=generator_version,
    )


def _service_module(package: str, name: str, version: int) -> str:
    return f"{package}.services.{PythonIdentifier(name)}.v{version}"


def _service(project: Project, live: spec.ServiceVersion, links: _Links) -> Service:
    name, svc, version = live.name, live.block, live.version
    module = _service_module(project.package, name, version)
    path = "src/" + module.replace(".", "/")
    queue = f"{project.name}.{name}.v{version}"
    dep = svc.deployment

    def handler(kind: str, hname: str, h: spec.Command | spec.Subscription | spec.Queue) -> Handler:
        ident = PythonIdentifier(hname)
        group = f"{kind}s" if kind != "queue" else "queues"
        prefix = ClassName(hname)
        settings: QueueSettings | None = None
        payload_class: str
        payload_schema: dict[str, Any]
        if isinstance(h, spec.Command):
            task, hqueue, timeout = f"{name}.v{version}.{hname}", queue, h.timeout
            payload_class, payload_module = (
                ClassName(hname, "Payload"),
                f"{module}._generated.models",
            )
            output_class: str | None = ClassName(hname, "Output")
            payload_schema = h.payload
            success = links.events[h.success_event] if h.success_event else None
            event = None
        elif isinstance(h, spec.Subscription):
            task, hqueue, timeout = f"{name}.v{version}.{hname}", f"{queue}.{hname}", h.timeout
            event = links.events[h.event]
            payload_class, payload_module = event.class_name, f"{project.package}.events"
            output_class, payload_schema, success = None, links.event_schemas[h.event], None
            settings = QueueSettings(
                max_attempts=h.max_attempts,
                backoff_initial=h.backoff.initial,
                backoff_max=h.backoff.max,
                backoff_factor=h.backoff.factor,
                backoff_jitter=h.backoff.jitter,
                lease=h.timeout,
                concurrency=dep.concurrency,
                schedule_batch_size=50,
                recovery_batch_size=SUBSCRIPTION_BATCH,
            )
        else:
            link = links.queues[hname]
            task, hqueue, timeout = hname, f"{project.name}:jobs:{hname}", h.lease
            payload_class, payload_module = link.payload_class, link.models_module
            output_class, payload_schema, success, event = None, h.payload, None, None
            settings = QueueSettings(
                max_attempts=h.max_attempts,
                backoff_initial=h.backoff.initial,
                backoff_max=h.backoff.max,
                backoff_factor=h.backoff.factor,
                backoff_jitter=h.backoff.jitter,
                lease=h.lease,
                concurrency=h.concurrency,
                schedule_batch_size=h.schedule_batch_size,
                recovery_batch_size=h.recovery_batch_size,
            )
        test_dir = f"tests/services/{PythonIdentifier(name)}/v{version}/{group}"
        http = None
        if isinstance(h, spec.Command | spec.Queue) and h.http is not None:
            http = _route(h.http, kind, task, payload_schema)
        return Handler(
            kind=kind,  # type: ignore[arg-type]
            name=hname,
            ident=ident,
            class_prefix=prefix,
            description=h.description,
            service=name,
            service_ident=PythonIdentifier(name),
            version=version,
            task=task,
            queue=hqueue,
            module=f"{module}.{group}.{ident}",
            path=f"{path}/{group}/{ident}.py",
            test_path=f"{test_dir}/test_{ident}.py",
            context_class=ClassName(hname, "Context"),
            payload_class=payload_class,
            payload_module=payload_module,
            output_class=output_class,
            timeout=timeout,
            success_event=success,
            event=event,
            invokes=tuple(links.commands[t] for t in h.can_invoke),
            emits=tuple(links.events[e] for e in h.can_emit),
            enqueues=tuple(links.queues[q] for q in h.can_enqueue),
            example_payload=_example_json(payload_schema),
            required_field=next(iter(payload_schema.get("required", [])), None),
            settings=settings,
            alerts=_handler_alerts(h),
            http=http,
        )

    commands = tuple(handler("command", n, c) for n, c in svc.commands.items())
    subscriptions = tuple(handler("subscription", n, s) for n, s in svc.subscriptions.items())
    queues = tuple(handler("queue", n, q) for n, q in svc.queues.items())
    models: list[tuple[str, str]] = []
    for cname, cmd in svc.commands.items():
        models.append((ClassName(cname, "Payload"), _canonical(cmd.payload)))
        models.append((ClassName(cname, "Output"), _canonical(cmd.output)))
    for qname, q in svc.queues.items():
        models.append((ClassName(qname, "Job"), _canonical(q.payload)))
    return Service(
        name=name,
        ident=PythonIdentifier(name),
        kube_name=KubeName(project.name, name, f"v{version}"),
        version=version,
        description=live.description,
        queue=queue,
        module=module,
        path=path,
        uses_database=svc.uses_database,
        state_ttl=svc.state_ttl,
        deployment=Deployment(
            replicas=dep.replicas,
            max_replicas=dep.autoscale.max_replicas if dep.autoscale else dep.replicas,
            concurrency=dep.concurrency,
            pool=dep.pool,
            cpu=dep.resources.cpu,
            memory=dep.resources.memory,
        ),
        commands=commands,
        subscriptions=subscriptions,
        queues=queues,
        models=tuple(models),
        alerts=AlertSettings(
            error_rate=live.service.alerts.error_rate,
            latency=live.service.alerts.latency,
            backlog_for=live.service.alerts.backlog_for,
            lag=live.service.alerts.lag,
            pool_waiting_for=live.service.alerts.pool_waiting_for,
        ),
    )


def _handler_alerts(h: spec.Command | spec.Subscription | spec.Queue) -> HandlerAlerts | None:
    if isinstance(h, spec.Command) and h.alerts is not None:
        return HandlerAlerts(h.alerts.error_rate, h.alerts.latency)
    return None


def _route(http: spec.Http, kind: str, target: str, payload: dict[str, Any]) -> HttpRoute:
    """What the gateway needs to serve a command or queue (validation checked the fields)."""
    props: dict[str, Any] = resolve(payload, payload).get("properties", {})
    params = path_params(http.path)

    def field(name: str) -> HttpField:
        kind, array = url_field(props[name], payload) or ("string", False)
        return HttpField(name, kind, array)

    query = tuple(field(n) for n in props if n not in params) if http.method == "GET" else ()
    example = example_for(payload)
    values: dict[str, Any] = dict(example) if isinstance(example, dict) else {}
    path = http.path
    for param in params:
        value = values.pop(param, None)
        text = json.dumps(value) if not isinstance(value, str) else value
        path = path.replace(f"{{{param}}}", quote(text if value is not None else "1", safe=""))
    body: str | None = None
    if http.method == "GET":
        pairs = [
            (k, json.dumps(i) if not isinstance(i, str) else i)
            for k, v in values.items()
            for i in (v if isinstance(v, list) else [v])
        ]
        if pairs:
            path += "?" + urlencode(pairs)
    else:
        body = json.dumps(values)
    return HttpRoute(
        method=http.method,
        path=http.path,
        public=http.public,
        kind="command" if kind == "command" else "queue",
        target=target,
        params=tuple(field(n) for n in params),
        query=query,
        example_path=path,
        example_body=body,
    )


def _canonical(schema: dict[str, Any]) -> str:
    """The schema as compact JSON, keys in the spec's order (fields keep their order)."""
    return json.dumps(schema, separators=(",", ":"))


def _example_json(schema: dict[str, Any]) -> str | None:
    value = example_for(schema)
    return None if value is None else json.dumps(value)


# Generated files of every project, by template (the template's path is the output's path).
_PROJECT_FILES: tuple[tuple[str, Owner], ...] = (
    ("pyproject.toml", "merged"),
    ("README.md", "merged"),
    (".gitignore", "merged"),
    ("src/{package}/__init__.py", "generated"),
    ("src/{package}/__main__.py", "generated"),
    ("src/{package}/py.typed", "generated"),
    ("src/{package}/testing.py", "generated"),
    ("src/{package}/services/__init__.py", "generated"),
    ("src/{package}/_purista/project.py", "generated"),
    ("tests/conftest.py", "generated"),
)
_SERVICE_FILES: tuple[str, ...] = (
    "__init__.py",  # the service's package; the others are per version
    "v{version}/__init__.py",
    "v{version}/_generated/__init__.py",
    "v{version}/_generated/context.py",
    "v{version}/_generated/tasks.py",
)


# Deployment files: the kustomize base is generated, the overlays are the user's to edit too.
_DEPLOY_FILES: tuple[tuple[str, Owner], ...] = (
    ("Dockerfile", "merged"),
    (".dockerignore", "merged"),
    ("docker-compose.yaml", "merged"),
    ("k8s/base/kustomization.yaml", "generated"),
    ("k8s/base/namespace.yaml", "generated"),
    ("k8s/base/settings.yaml", "generated"),
    ("k8s/base/network-policy.yaml", "generated"),
    ("k8s/overlays/dev/kustomization.yaml", "merged"),
    ("k8s/overlays/dev/redis.yaml", "merged"),
    ("k8s/overlays/dev/otel-collector.yaml", "merged"),
    ("k8s/overlays/dev/jaeger.yaml", "merged"),
    ("k8s/overlays/dev/prometheus.yaml", "merged"),
    ("k8s/overlays/dev/grafana.yaml", "merged"),
    ("k8s/overlays/prod/kustomization.yaml", "merged"),
)


def _files(project: Project, services: tuple[Service, ...], deploy: Deploy) -> tuple[File, ...]:
    files = [
        File(path.format(package=project.package), path + ".jinja", owner)
        for path, owner in _PROJECT_FILES + _DEPLOY_FILES
    ]
    # The runtime's modules, copied as they are (`database` is imported only where a
    # service uses the database, so psycopg is needed only there).
    for module in runtime_modules():
        path = f"src/{project.package}/_purista/{module}"
        files.append(File(path, None, "generated", source=module))
    if deploy.uses_database:
        dev_db = "k8s/overlays/dev/postgres.yaml"
        files.append(File(dev_db, dev_db + ".jinja", "merged"))
    if deploy.autoscaled:
        files.append(File("k8s/base/keda.yaml", "k8s/base/keda.yaml.jinja", "generated"))
    for worker in deploy.workers:
        if worker.kind == "gateway":
            continue
        path = f"k8s/base/workers/{worker.kube_name}.yaml"
        files.append(
            File(path, "k8s/base/workers/{worker}.yaml.jinja", "generated", worker=worker.kube_name)
        )
    files.append(File(f"src/{project.package}/events.py", None, "generated"))
    # The dashboard and alerts, built as data by `purista.observability`.
    for path in (
        f"observability/grafana/{project.kube_name}.json",
        "observability/prometheus/alerts.yaml",
        "observability/prometheus/prometheus.yml",
        "k8s/base/alerts.yaml",
        "k8s/base/dashboard.yaml",
        "k8s/overlays/dev/prometheus-rules.yaml",
        "observability/grafana/provisioning/datasources/prometheus.yaml",
        "observability/grafana/provisioning/dashboards/purista.yaml",
    ):
        files.append(File(path, None, "generated"))
    if deploy.gateway_worker is not None:
        # The OpenAPI document (written by the pipeline), the auth hook and the manifests.
        files.append(File(f"src/{project.package}/_purista/openapi.json", None, "generated"))
        auth = "src/{package}/gateway_auth.py"
        files.append(File(auth.format(package=project.package), auth + ".jinja", "user"))
        files.append(File("k8s/base/gateway.yaml", "k8s/base/gateway.yaml.jinja", "generated"))
    for svc in services:
        # The package `services/<service>/` comes with the lowest version of the service.
        first = svc.version == min(s.version for s in services if s.name == svc.name)
        files.extend(_service_files(project, svc, with_package=first))
    return tuple(sorted(files, key=lambda f: f.path))


def _service_files(project: Project, svc: Service, *, with_package: bool) -> list[File]:
    """The files of one version of a service: generated modules, handlers and their tests."""

    def of(path: str, template: str | None, owner: Owner, handler: str | None = None) -> File:
        return File(path, template, owner, svc.name, handler, version=svc.version)

    base = f"src/{project.package}/services/{svc.ident}/"
    files = [of(f"{svc.path}/_generated/models.py", None, "generated")]
    for path in _SERVICE_FILES if with_package else _SERVICE_FILES[1:]:
        template = "src/{package}/services/{service}/" + path + ".jinja"
        files.append(of(base + path.format(version=svc.version), template, "generated"))
    for group, handlers in (
        ("commands", svc.commands),
        ("subscriptions", svc.subscriptions),
        ("queues", svc.queues),
    ):
        if not handlers:
            continue
        template = f"src/{{package}}/services/{{service}}/v{{version}}/{group}/"
        files.append(
            of(f"{svc.path}/{group}/__init__.py", template + "__init__.py.jinja", "generated")
        )
        kind = group[:-1]
        test_template = f"tests/services/{{service}}/v{{version}}/{group}/test_{{{kind}}}.py.jinja"
        for h in handlers:
            files.append(of(h.path, template + f"{{{kind}}}.py.jinja", "user", h.name))
            files.append(of(h.test_path, test_template, "user", h.name))
    return files
