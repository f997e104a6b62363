"""`purista diff`: what changed between two specs, whether it breaks anyone, and whom.

A change is `breaking` when a message that was valid (or an output a caller relied
on) no longer is: a removed command, event, subscription or queue, a changed wire
name, a narrowed payload, a widened or removed output, a changed `success_event`.
Payloads are read by their handler, so narrowing them breaks the senders; outputs
are read by the callers, so widening them does; events have readers and writers on
both sides, so either does. A breaking change is covered when the service it
belongs to has a new version; events have none.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from purista.load import Path_, dotted
from purista.plan.model import Handler, Plan, Service
from purista.schema_diff import Effect, compare
from purista.spec import models as spec

__all__ = ["Change", "Contract", "Diff", "contract", "diff"]

Kind = Literal["breaking", "compatible"]
Direction = Literal["input", "output", "event"]
#: What each direction of a message cannot take without breaking someone.
BREAKS: dict[Direction, frozenset[Effect]] = {
    "input": frozenset({"narrows", "changes"}),
    "output": frozenset({"widens", "changes"}),
    "event": frozenset({"narrows", "widens", "changes"}),
}
GROUPS = {"command": "commands", "subscription": "subscriptions", "queue": "queues"}


@dataclass(frozen=True)
class Change:
    """One change: where in the spec, whether it breaks, whom, and what happened."""

    path: str
    kind: Kind
    breaks: tuple[str, ...]
    message: str
    covered: bool = False  # breaking, but its service has a new version

    def as_json(self) -> dict[str, Any]:
        """The change as `--json` prints it."""
        return {
            "path": self.path,
            "kind": self.kind,
            "breaks": list(self.breaks),
            "message": self.message,
        }


@dataclass(frozen=True)
class Diff:
    """Every change between two specs, sorted by path."""

    changes: tuple[Change, ...]

    @property
    def breaking(self) -> tuple[Change, ...]:
        """The breaking changes."""
        return tuple(c for c in self.changes if c.kind == "breaking")

    @property
    def uncovered(self) -> tuple[Change, ...]:
        """The breaking changes no new version covers: what makes `purista diff` exit 1."""
        return tuple(c for c in self.breaking if not c.covered)

    def as_json(self) -> dict[str, Any]:
        """`{"changes": [...], "breaking": N}`."""
        return {"changes": [c.as_json() for c in self.changes], "breaking": len(self.breaking)}


@dataclass(frozen=True)
class _Entry:
    """A command, subscription or job queue of one service version."""

    kind: Literal["command", "subscription", "queue"]
    name: str
    id: str  # `<service>.v<N>.<name>`
    path: Path_
    plan: Handler
    spec: spec.Command | spec.Subscription | spec.Queue


@dataclass(frozen=True)
class _Version:
    service: str
    version: int
    path: Path_
    description: str
    entries: dict[tuple[str, str], _Entry]


@dataclass
class Contract:
    """What a spec promises on the wire, and who depends on each part of it."""

    events: dict[str, spec.Event]
    versions: dict[tuple[str, int], _Version] = field(default_factory=dict)
    callers: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    subscribers: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    producers: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    queues: dict[str, tuple[str, int]] = field(default_factory=dict)  # job queue -> its owner


def _versions(model: spec.Spec, plan: Plan) -> Iterator[tuple[Path_, spec.Version, Service]]:
    """Each service version: its path in the spec, its block there and its plan."""
    live = {(v.name, v.version): v for v in spec.service_versions(model)}
    for service in plan.services:
        found = live[service.name, service.version]
        yield found.path, found.block, service


def contract(model: spec.Spec, plan: Plan) -> Contract:
    """The contract of a validated spec and its plan."""
    out = Contract(dict(model.events))
    for path, block, service in _versions(model, plan):
        entries: dict[tuple[str, str], _Entry] = {}
        blocks: dict[str, dict[str, Any]] = {
            "command": block.commands,
            "subscription": block.subscriptions,
            "queue": block.queues,
        }
        for h in service.handlers:
            entry_id = f"{service.name}.v{service.version}.{h.name}"
            entry = _Entry(h.kind, h.name, entry_id, (*path, GROUPS[h.kind], h.name), h,
                           blocks[h.kind][h.name])  # fmt: skip
            entries[h.kind, h.name] = entry
            for command in h.invokes:
                out.callers[command.task].add(f"{service.name}.v{service.version}")
            if h.event is not None:
                out.subscribers[h.event.name].add(entry_id)
            for queue in h.enqueues:
                out.producers[queue.name].add(entry_id)
            if h.kind == "queue":
                out.queues[h.name] = (service.name, service.version)
        key = (service.name, service.version)
        out.versions[key] = _Version(service.name, service.version, path, block.description,
                                     entries)  # fmt: skip
    return out


def diff(old: Contract, new: Contract) -> Diff:
    """Every change from `old` to `new`."""
    found = _Finder(old, new)
    found.events()
    found.services()
    changes = sorted(found.changes, key=lambda c: (c.path, c.message, c.kind))
    return Diff(tuple(changes))


class _Finder:
    def __init__(self, old: Contract, new: Contract) -> None:
        self.old, self.new = old, new
        self.changes: list[Change] = []

    def add(
        self,
        path: Path_,
        kind: Kind,
        message: str,
        breaks: set[str] | tuple[str, ...] = (),
        *,
        covered: bool = False,
    ) -> None:
        entry = Change(dotted(path), kind, tuple(sorted(breaks)), message, covered)
        self.changes.append(entry)

    # -------------------------------------------------------------- events

    def events(self) -> None:
        for name in sorted(self.old.events.keys() | self.new.events.keys()):
            path = ("events", name)
            readers = self.old.subscribers[name] | self.new.subscribers[name]
            if name not in self.new.events:
                self.add(path, "breaking", f"event `{name}` removed", readers)
            elif name not in self.old.events:
                self.add(path, "compatible", f"event `{name}` added")
            else:
                a, b = self.old.events[name], self.new.events[name]
                self._doc(path, a.description, b.description)
                self._schema((*path, "payload"), a.payload, b.payload, "event", readers)

    # -------------------------------------------------------------- services

    def services(self) -> None:
        names = {s for s, _ in self.old.versions} | {s for s, _ in self.new.versions}
        for name in sorted(names):
            before = sorted(v for s, v in self.old.versions if s == name)
            after = sorted(v for s, v in self.new.versions if s == name)
            common = [v for v in before if v in after]
            gone = [v for v in before if v not in after]
            came = [v for v in after if v not in before]
            pairs = [(v, v) for v in common]
            if gone and came:  # a new version in place of the old one
                pairs.append((gone.pop(), came.pop()))
            for a, b in pairs:
                self._version(self.old.versions[name, a], self.new.versions[name, b])
            for v in gone:
                superseded = any(w > v for w in after)
                for entry in self.old.versions[name, v].entries.values():
                    if not self._moved(entry):
                        self._removed(entry, covered=superseded)
            for v in came:
                version = self.new.versions[name, v]
                self.add(version.path, "compatible", f"service `{name}` v{v} added")
                for entry in version.entries.values():
                    if entry.kind == "queue" and entry.name in self.old.queues:
                        self._moved_queue(entry)

    def _version(self, a: _Version, b: _Version) -> None:
        covered = a.version != b.version
        if covered:
            self.add(b.path, "compatible", f"version {a.version} became {b.version}")
        self._doc(b.path, a.description, b.description)
        for kind in GROUPS:
            before = {n: e for (k, n), e in a.entries.items() if k == kind}
            after = {n: e for (k, n), e in b.entries.items() if k == kind}
            # A job queue is named once per project: one that moved between services is
            # compared where it is now (`_moved_queue`), not removed and added.
            gone = [e for n, e in before.items() if n not in after and not self._moved(e)]
            came = [e for n, e in after.items() if n not in before]
            for entry in [e for e in came if kind == "queue" and e.name in self.old.queues]:
                came.remove(entry)
                self._moved_queue(entry)
            for old_entry in list(gone):
                twin = next((e for e in came if _signature(e) == _signature(old_entry)), None)
                if twin is not None:
                    gone.remove(old_entry)
                    came.remove(twin)
                    self._renamed(old_entry, twin, covered=covered)
            for entry in gone:
                self._removed(entry, covered=covered)
            for entry in came:
                self.add(entry.path, "compatible", f"{entry.kind} `{entry.name}` added")
            for name in before.keys() & after.keys():
                self._entry(before[name], after[name], covered=covered)

    def _moved(self, entry: _Entry) -> bool:
        """Whether `entry` is a job queue that another service holds in the new spec."""
        if entry.kind != "queue" or entry.name not in self.new.queues:
            return False
        return self.new.queues[entry.name][0] != entry.id.split(".")[0]

    def _moved_queue(self, entry: _Entry) -> None:
        """A job queue that another service held: its wire name is the same."""
        owner = self.old.versions[self.old.queues[entry.name]]
        self._entry(owner.entries["queue", entry.name], entry, covered=False)

    def _removed(self, entry: _Entry, *, covered: bool) -> None:
        what = {
            "command": "its callers' invokes fail",
            "subscription": "events waiting in its queue are no longer handled",
            "queue": "its producers' jobs are no longer run",
        }[entry.kind]
        message = f"{entry.kind} `{entry.id}` removed: {what}"
        self.add(entry.path, "breaking", message, self._audience(entry), covered=covered)

    def _renamed(self, a: _Entry, b: _Entry, *, covered: bool) -> None:
        message = f"{a.kind} `{a.name}` renamed to `{b.name}`: {_wire(a, b)}"
        self.add(b.path, "breaking", message, self._audience(a), covered=covered)

    def _audience(self, entry: _Entry) -> set[str]:
        """Whom a breaking change to `entry` breaks."""
        if entry.kind == "command":
            task = entry.plan.task
            return self.old.callers.get(task, set()) | self.new.callers.get(task, set())
        if entry.kind == "queue":
            name = entry.name
            return self.old.producers.get(name, set()) | self.new.producers.get(name, set())
        return {entry.id}

    def _entry(self, a: _Entry, b: _Entry, *, covered: bool) -> None:
        path, audience = b.path, self._audience(a) | self._audience(b)
        if a.plan.task != b.plan.task or a.plan.queue != b.plan.queue:
            message = f"wire name changed: {_wire(a, b)}"
            self.add(path, "breaking", message, audience, covered=covered)
        self._doc(path, a.spec.description, b.spec.description)
        self._links(path, a.spec, b.spec)
        if isinstance(a.spec, spec.Command) and isinstance(b.spec, spec.Command):
            self._schema((*path, "payload"), a.spec.payload, b.spec.payload, "input", audience,
                         covered=covered)  # fmt: skip
            self._schema((*path, "output"), a.spec.output, b.spec.output, "output", audience,
                         covered=covered)  # fmt: skip
            self._success_event(path, a.spec.success_event, b.spec.success_event, covered)
        if isinstance(a.spec, spec.Queue) and isinstance(b.spec, spec.Queue):
            self._schema((*path, "payload"), a.spec.payload, b.spec.payload, "input", audience,
                         covered=covered)  # fmt: skip
        if isinstance(a.spec, spec.Subscription) and isinstance(b.spec, spec.Subscription):
            if a.spec.event != b.spec.event:
                message = f"now subscribes to `{b.spec.event}` instead of `{a.spec.event}`"
                self.add((*path, "event"), "breaking", message, audience, covered=covered)
        if isinstance(a.spec, spec.Queue | spec.Subscription) and isinstance(
            b.spec, spec.Queue | spec.Subscription
        ):
            if b.spec.max_attempts < a.spec.max_attempts:
                message = (
                    f"`max_attempts` lowered from {a.spec.max_attempts} to "
                    f"{b.spec.max_attempts}: failures are dead-lettered sooner"
                )
                self.add((*path, "max_attempts"), "compatible", message)

    def _success_event(self, path: Path_, a: str | None, b: str | None, covered: bool) -> None:
        if a == b:
            return
        at = (*path, "success_event")
        if a is None:
            self.add(at, "compatible", f"`success_event` `{b}` added")
            return
        readers = self.old.subscribers.get(a, set())
        if b is not None:
            readers = readers | self.new.subscribers.get(b, set())
        message = (
            f"`success_event` changed from `{a}` to `{b}`"
            if b is not None
            else f"`success_event` `{a}` removed: its subscribers no longer hear of this command"
        )
        self.add(at, "breaking", message, readers, covered=covered)

    def _links(self, path: Path_, a: Any, b: Any) -> None:
        """Whom a handler may invoke, emit to and enqueue: reported, never breaking."""
        for key, verb in (("can_invoke", "invoke"), ("can_emit", "emit"),
                          ("can_enqueue", "enqueue")):  # fmt: skip
            before, after = set(getattr(a, key)), set(getattr(b, key))
            for name in sorted(after - before):
                self.add((*path, key), "compatible", f"may now {verb} `{name}`")
            for name in sorted(before - after):
                self.add((*path, key), "compatible", f"no longer may {verb} `{name}`")

    def _doc(self, path: Path_, a: str, b: str) -> None:
        if a != b:
            self.add((*path, "description"), "compatible", "description changed")

    def _schema(
        self,
        path: Path_,
        a: dict[str, Any],
        b: dict[str, Any],
        direction: Direction,
        audience: set[str],
        *,
        covered: bool = False,
    ) -> None:
        for change in compare(a, b):
            kind: Kind = "breaking" if change.effect in BREAKS[direction] else "compatible"
            breaks = audience if kind == "breaking" else set()
            self.add((*path, *change.path), kind, change.message, breaks, covered=covered)


def _signature(entry: _Entry) -> str:
    """What a renamed handler keeps: its schemas (a subscription: its event)."""
    s = entry.spec
    if isinstance(s, spec.Command):
        return json.dumps([s.payload, s.output, s.success_event], sort_keys=True)
    if isinstance(s, spec.Subscription):
        return json.dumps(s.event)
    return json.dumps(s.payload, sort_keys=True)


def _wire(a: _Entry, b: _Entry) -> str:
    parts = []
    if a.plan.task != b.plan.task:
        parts.append(f"task `{a.plan.task}` is now `{b.plan.task}`")
    if a.plan.queue != b.plan.queue:
        parts.append(f"queue `{a.plan.queue}` is now `{b.plan.queue}`")
    return "; ".join(parts)
