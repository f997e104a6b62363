"""A Mermaid flowchart of the project: who invokes, emits, enqueues and subscribes to what.

Each service version is a subgraph holding its commands, subscriptions and job
queues; events stand between the services. Node ids are made of letters, digits
and `_` only, so no spec name can end a statement or start an edge; labels are
always quoted, with Mermaid's entity codes for the characters that would end them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from purista.plan.model import Handler, Plan, Service

__all__ = ["document"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_]")
# Mermaid's entity codes: `#` first, since the others are written with it.
_ESCAPES = (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"))
_SHAPES = {
    "command": '["{}"]',
    "subscription": '(["{}"])',
    "queue": '[("{}")]',
    "event": '{{{{"{}"}}}}',
}
_STYLES = {
    "command": "fill:#e8f0fe,stroke:#3465a4",
    "subscription": "fill:#e9f7e4,stroke:#4e9a06",
    "queue": "fill:#fff3e0,stroke:#c17d11",
    "event": "fill:#f4e8fb,stroke:#75507b",
}


def document(plan: Plan) -> str:
    """The project as a Mermaid `flowchart`, ending in a newline."""
    ids = _Ids()
    lines = ["flowchart LR"]
    kinds: dict[str, list[str]] = {kind: [] for kind in _SHAPES}
    for event in plan.events:
        node = ids.of("evt", event.name)
        kinds["event"].append(node)
        lines.append(f"  {node}{_shape('event', event.name)}")
    edges: list[str] = []
    for service, handlers in _versions(plan):
        group = ids.of("svc", service.name, f"v{service.version}")
        lines.append(f"  subgraph {group} [{_label(f'{service.name} v{service.version}')}]")
        for h in handlers:
            node = _node(ids, h)
            kinds[h.kind].append(node)
            lines.append(f"    {node}{_shape(h.kind, h.name)}")
        lines.append("  end")
        edges += (edge for h in handlers for edge in _edges(ids, h))
    lines += (f"  {edge}" for edge in edges)
    for kind, nodes in kinds.items():
        if nodes:
            lines += (f"  classDef {kind} {_STYLES[kind]}", f"  class {','.join(nodes)} {kind}")
    return "\n".join(lines) + "\n"


def _versions(plan: Plan) -> Iterator[tuple[Service, tuple[Handler, ...]]]:
    """Each service version with its handlers: commands, subscriptions, then job queues."""
    for service in plan.services:
        yield service, service.handlers


def _node(ids: _Ids, h: Handler) -> str:
    if h.kind == "queue":  # job queues are named once per project
        return ids.of("job", h.name)
    return ids.of("cmd" if h.kind == "command" else "sub", h.task)


def _edges(ids: _Ids, h: Handler) -> Iterator[str]:
    node = _node(ids, h)
    if h.event is not None:
        yield f"{ids.of('evt', h.event.name)} --> {node}"
    for command in h.invokes:
        yield f"{node} -->|{_label('invokes')}| {ids.of('cmd', command.task)}"
    if h.success_event is not None:
        yield f"{node} ==>|{_label('on success')}| {ids.of('evt', h.success_event.name)}"
    for event in h.emits:
        yield f"{node} -.->|{_label('emits')}| {ids.of('evt', event.name)}"
    for queue in h.enqueues:
        yield f"{node} -->|{_label('enqueues')}| {ids.of('job', queue.name)}"


class _Ids:
    """Safe Mermaid node ids, one per thing, distinct even where two names sanitise alike."""

    def __init__(self) -> None:
        self._ids: dict[tuple[str | int, ...], str] = {}
        self._taken: set[str] = set()

    def of(self, prefix: str, *parts: str | int) -> str:
        key = (prefix, *parts)
        found = self._ids.get(key)
        if found is None:
            base = "_".join([prefix, *(_UNSAFE.sub("_", str(p)) for p in parts)])
            found, n = base, 1
            while found in self._taken:
                n += 1
                found = f"{base}_{n}"
            self._ids[key] = found
            self._taken.add(found)
        return found


def _shape(kind: str, name: str) -> str:
    return _SHAPES[kind].format(_escape(name))


def _label(text: str) -> str:
    return f'"{_escape(text)}"'


def _escape(text: str) -> str:
    text = " ".join(text.split())  # a line break would end the statement
    for char, code in _ESCAPES:
        text = text.replace(char, code)
    return text
