"""An AsyncAPI 3.0 document of the project: every queue a message travels on, with its schema.

Channels are the queues as they are named on the wire: one per service version for
its commands (with a reply channel), one per subscription, one per job queue.
Operations say who receives on them (every handler) and who sends to them (the
handlers that invoke, emit and enqueue). Each payload schema is a component, its
`$ref`s into `$defs` pointed at where the component holds them; `$ref`s to files were
inlined when the spec was validated.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from purista.plan.model import Handler, Plan, Service
from purista.spec import models as spec
from purista.spec import pointer

__all__ = ["document"]

VERSION = "3.0.0"
SERVER = "redis"


def document(model: spec.Spec, plan: Plan) -> str:
    """The AsyncAPI document of the spec `model` (and its `plan`) as JSON text."""
    doc = _Document(plan)
    for service, block in _versions(model, plan):
        doc.service(service, block, model)
    for name, event in model.events.items():
        doc.schema(f"event.{name}", event.payload)
    info: dict[str, Any] = {"title": plan.project.name, "version": _api_version(model)}
    description = plan.project.description.strip()
    info["description"] = f"{description}\n\n{_ABOUT}".strip() if description else _ABOUT.strip()
    out = {
        "asyncapi": VERSION,
        "info": info,
        "defaultContentType": "application/json",
        "servers": {SERVER: _server(model.infrastructure.redis.url)},
        "channels": doc.channels,
        "operations": doc.operations,
        "components": {"messages": doc.messages, "schemas": doc.schemas},
    }
    return json.dumps(out, indent=2, ensure_ascii=False) + "\n"


_ABOUT = """\
Celery on Redis, JSON only. A command is the Celery task `<service>.v<N>.<command>`
with one keyword argument, `payload`, on its service's queue; its output is the task's
result. An event is sent to one queue per subscription. A job is kept in Redis under
`<project>:jobs:<queue>` (pending list, scheduled and leased sets, dead-letter list).
"""


#: Where a command's call is identified: the result of a call is kept under its task id.
_TASK_ID = {
    "description": "The Celery task id; the output is stored as `celery-task-meta-<id>`.",
    "location": "$message.header#/id",
}


def _versions(model: spec.Spec, plan: Plan) -> Iterator[tuple[Service, spec.Version]]:
    """Each service version of the plan, with its block in the spec."""
    blocks = {(v.name, v.version): v.block for v in spec.service_versions(model)}
    for service in plan.services:
        yield service, blocks[service.name, service.version]


def _api_version(model: spec.Spec) -> str:
    """The image tag the spec deploys: the release this document describes."""
    return model.infrastructure.kubernetes.tag


def _server(url: str) -> dict[str, Any]:
    """The Redis server of `url`, without the credentials a URL may carry."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    server: dict[str, Any] = {"host": host, "protocol": parts.scheme or "redis"}
    if parts.path not in ("", "/"):
        server["pathname"] = parts.path
    server["description"] = (
        "Broker, result backend and job store (the spec's default; `REDIS_URL` sets it at run "
        "time)."
    )
    return server


class _Document:
    """Channels, operations, messages and schemas, built up one service version at a time."""

    def __init__(self, plan: Plan) -> None:
        self.channels: dict[str, Any] = {}
        self.operations: dict[str, Any] = {}
        self.messages: dict[str, Any] = {}
        self.schemas: dict[str, Any] = {}
        self.senders = _senders(plan)

    def service(self, service: Service, block: spec.Version, model: spec.Spec) -> None:
        who = f"{service.name} v{service.version}"
        if service.commands:
            self._commands(service, block, who)
        for h in service.subscriptions:
            assert h.event is not None
            event = model.events[h.event.name]
            key = f"event.{h.event.name}"
            channel = f"subscriptions.{h.task}"
            self.channels[channel] = {
                "address": h.queue,
                "title": f"{h.event.name} for {h.task}",
                "description": _join(
                    f"Events `{h.event.name}` for the subscription `{h.name}` of {who}: "
                    "one copy of each event, shared by the service's instances.",
                    event.description,
                ),
                "messages": {h.event.name: self._message(key, h.event.name, event.description)},
                "servers": [_ref("servers", SERVER)],
            }
            self._receive(f"subscription.{h.task}", channel, h.event.name, h, who=who)
            self._send(f"emit.{h.task}", channel, h.event.name, h.event.name, kind="event")
        for h in service.queues:
            queue = block.queues[h.name]
            key = f"job.{h.name}"
            channel = f"jobs.{h.name}"
            self.channels[channel] = {
                "address": h.queue,
                "title": f"jobs of {h.name}",
                "description": _join(
                    f"Jobs of the queue `{h.name}` ({who}), kept in Redis under `{h.queue}`: "
                    "leased, retried with backoff, dead-lettered after "
                    f"{queue.max_attempts} attempts.",
                    h.description,
                ),
                "messages": {h.name: self._message(key, h.name, h.description)},
                "servers": [_ref("servers", SERVER)],
            }
            self.schema(key, queue.payload)
            self._receive(f"job.{h.name}", channel, h.name, h, who=who)
            self._send(f"enqueue.{h.name}", channel, h.name, h.name, kind="queue")

    def _commands(self, service: Service, block: spec.Version, who: str) -> None:
        version = f"{service.name}.v{service.version}"
        channel, replies = f"commands.{version}", f"replies.{version}"
        requests: dict[str, Any] = {}
        answers: dict[str, Any] = {}
        for h in service.commands:
            command = block.commands[h.name]
            base = f"command.{h.task}"
            self.schema(f"{base}.payload", command.payload)
            self.schema(f"{base}.output", command.output)
            requests[h.name] = self._message(f"{base}.payload", h.task, h.description)
            self.messages[f"{base}.payload"]["correlationId"] = _TASK_ID
            answers[h.name] = self._message(
                f"{base}.output", f"{h.task}.output", f"The output of `{h.task}`."
            )
        self.channels[channel] = {
            "address": service.queue,
            "title": f"commands of {who}",
            "description": _join(
                f"The command queue of {who}: Celery tasks `{service.name}.v{service.version}."
                "<command>` with the keyword argument `payload`.",
                service.description,
            ),
            "messages": requests,
            "servers": [_ref("servers", SERVER)],
        }
        self.channels[replies] = {
            "address": None,
            "title": f"outputs of {who}",
            "description": (
                "The output of each command, per call: the task's result in the result "
                "backend (`celery-task-meta-<task id>`) for a Celery client; a caller inside "
                "the project waits on the reply list its message names."
            ),
            "messages": answers,
        }
        for h in service.commands:
            reply = {
                "channel": _ref("channels", replies),
                "messages": [_ref("channels", replies, "messages", h.name)],
            }
            self._receive(f"command.{h.task}", channel, h.name, h, who=who, reply=reply)
            self._send(f"invoke.{h.task}", channel, h.name, h.task, kind="command", reply=reply)

    def _message(self, key: str, name: str, description: str) -> dict[str, Any]:
        """A message of the components (its schema is added by the caller); its reference."""
        message: dict[str, Any] = {"name": name, "contentType": "application/json"}
        if description:
            message["description"] = description
        message["payload"] = _ref("components", "schemas", key)
        self.messages[key] = message
        return _ref("components", "messages", key)

    def schema(self, key: str, schema: dict[str, Any]) -> None:
        """A payload schema as a component, its `#/...` references pointed at the component."""
        self.schemas[key] = _rebase(schema, ("components", "schemas", key))

    def _receive(
        self,
        operation: str,
        channel: str,
        message: str,
        h: Handler,
        *,
        who: str,
        reply: dict[str, Any] | None = None,
    ) -> None:
        what = {"command": "command", "subscription": "subscription", "queue": "job handler"}
        body: dict[str, Any] = {
            "action": "receive",
            "channel": _ref("channels", channel),
            "title": h.task,
            "summary": f"The {what[h.kind]} `{h.name}` of {who} (the handler `{h.module}`).",
        }
        if h.description:
            body["description"] = h.description
        body["messages"] = [_ref("channels", channel, "messages", message)]
        if reply is not None:
            body["reply"] = reply
        self.operations[operation] = body

    def _send(
        self,
        operation: str,
        channel: str,
        message: str,
        target: str,
        *,
        kind: str,
        reply: dict[str, Any] | None = None,
    ) -> None:
        """Who in the project sends to `channel`; nothing when nobody does."""
        senders = self.senders[kind].get(target)
        if not senders:
            return
        verb = {"command": "invoked", "event": "emitted", "queue": "enqueued"}[kind]
        body: dict[str, Any] = {
            "action": "send",
            "channel": _ref("channels", channel),
            "summary": f"`{target}` {verb} by {', '.join(senders)}.",
            "messages": [_ref("channels", channel, "messages", message)],
        }
        if reply is not None:
            body["reply"] = reply
        self.operations[operation] = body


def _senders(plan: Plan) -> dict[str, dict[str, list[str]]]:
    """Who sends what: handlers by the command they invoke, event they emit, queue they fill."""
    out: dict[str, dict[str, list[str]]] = {
        "command": defaultdict(list),
        "event": defaultdict(list),
        "queue": defaultdict(list),
    }
    for service in plan.services:
        for h in service.handlers:
            name = f"`{service.name}.v{service.version}.{h.name}`"
            for command in h.invokes:
                out["command"][command.task].append(name)
            if h.success_event is not None:
                out["event"][h.success_event.name].append(f"{name} (its success_event)")
            for event in h.emits:
                out["event"][event.name].append(name)
            for queue in h.enqueues:
                out["queue"][queue.name].append(name)
    return out


def _rebase(node: Any, base: tuple[str, ...]) -> Any:
    """`node` with each `#/...` reference made relative to the document at `base`."""
    if isinstance(node, list):
        return [_rebase(item, base) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _rebase(value, base) for key, value in node.items()}
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#"):
        out["$ref"] = "#" + pointer.text(base) + ref[1:]
    return out


def _ref(*keys: str) -> dict[str, str]:
    return {"$ref": "#" + pointer.text(keys)}


def _join(*texts: str) -> str:
    return " ".join(t.strip() for t in texts if t.strip())
