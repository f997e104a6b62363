"""Stage 2: check a loaded spec completely and turn it into the `Spec` model.

Every problem is collected, located and reported together: pydantic's errors,
invalid JSON Schemas, references that do not resolve and names that collide.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any, get_args, get_origin

from jsonschema import Draft7Validator, Draft202012Validator
from jsonschema.validators import validator_for
from pydantic import BaseModel, ValidationError

from purista import cache
from purista.errors import SpecError, SpecErrors
from purista.load import LoadedSpec, Path_, Positions, dotted
from purista.schema_refs import RefInliner
from purista.spec import pointer
from purista.spec.http import path_params, path_shape, resolve, scalar_kind, url_field
from purista.spec.models import (
    HTTP_PATH_PATTERN,
    IMAGE_PATTERN,
    KUBE_LABEL_PATTERN,
    QUANTITY_PATTERN,
    TAG_PATTERN,
    URL_PATTERN,
    VERSION_KEYS,
    Http,
    Spec,
    service_versions,
)
from purista.spec.names import (
    KUBE_NAME_MAX_LENGTH,
    NAME_PATTERN,
    ClassName,
    KubeName,
    PythonIdentifier,
    hidden_module,
    words,
)
from purista.spec.text import check_text
from purista.validate_schedules import check_schedules

JSON_TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")
SUPPORTED_DRAFTS = (Draft202012Validator, Draft7Validator)
_JSONSCHEMA = version("jsonschema")
PATTERNS = {
    NAME_PATTERN: "a name that starts with a letter and uses only letters, digits, `_` and `-`",
    QUANTITY_PATTERN: "a Kubernetes quantity such as `250m`, `1`, `256Mi` or `1Gi`",
    KUBE_LABEL_PATTERN: "a Kubernetes name of at most 63 lower-case letters, digits and `-`",
    IMAGE_PATTERN: "an image name such as `ghcr.io/acme/shop` (lower case, no tag)",
    TAG_PATTERN: "an image tag such as `1.2.0` (letters, digits, `_`, `.` and `-`)",
    URL_PATTERN: "a URL without spaces, line breaks or backticks",
    HTTP_PATH_PATTERN: (
        "a path such as `/users/{userId}`: it starts with `/`, and each segment is letters, "
        "digits, `.`, `_`, `~` and `-`, or a whole `{param}`"
    ),
}


def validate_spec(loaded: LoadedSpec, refs: set[Path] | None = None) -> Spec:
    """The validated spec, or `SpecErrors` listing every problem found.

    Each file a `$ref` read is added to `refs`: the spec's inputs besides its text.
    """
    pos = loaded.positions
    data = loaded.data
    errors: list[SpecError] = []
    if data is None or data == {}:
        message = "the spec is empty; it needs `spec_version`, `project` and `services`"
        raise SpecErrors([pos.error((), message)])
    if not isinstance(data, dict):
        kind = "list" if isinstance(data, list) else "single value"
        message = f"the spec must be a mapping of keys to values, not a {kind}"
        raise SpecErrors([pos.error((), message)])
    inliner = RefInliner(loaded.path.parent, pos, errors, refs if refs is not None else set())
    for path, schema in list(_schemas(data)):
        known = len(errors)
        resolved = inliner.inline(schema, path, loaded.path.parent)
        _set(data, path, resolved)
        if len(errors) == known:  # a `$ref` that failed to load is reported once, not twice
            errors.extend(_check_schema(resolved, path, inliner.positions))
    errors.extend(check_text(data, pos, {path for path, _ in _schemas(data)}))
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        errors.extend(_pydantic_errors(exc, pos))
        raise SpecErrors(errors) from None
    errors.extend(_check_versions(spec, pos))
    errors.extend(_check_references(spec, pos))
    errors.extend(_check_invoke_graph(spec, pos))
    errors.extend(_check_names(spec, pos))
    errors.extend(_check_deployment(spec, pos))
    errors.extend(check_schedules(spec, pos))
    errors.extend(_check_http(spec, pos))
    if errors:
        raise SpecErrors(errors)
    return spec


# ---------------------------------------------------------------- pydantic's errors


def _pydantic_errors(exc: ValidationError, pos: Positions) -> Iterator[SpecError]:
    errors = exc.errors(include_url=False)
    # A misspelt key also makes the key it stands for missing; the typo explains both.
    typos = {
        (*err["loc"][:-1], suggestion)
        for err in errors
        if err["type"] == "extra_forbidden"
        for suggestion in _close(str(err["loc"][-1]), _fields_at(tuple(err["loc"][:-1])))
    }
    for err in errors:
        loc: Path_ = tuple(err["loc"])
        kind = err["type"]
        if loc and loc[-1] == "[key]" and len(loc) > 2 and loc[-3] == "versions":
            message = f"`{_shown(str(loc[-2]))}` is not a version: versions are numbers from 1"
            yield pos.error(loc[:-1], message, at_key=True)
        elif loc and loc[-1] == "[key]":
            name = loc[-2]
            yield pos.error(loc[:-1], _bad_name(str(name), err["msg"]), at_key=True)
        elif kind == "extra_forbidden":
            yield pos.error(loc, _unknown_key(str(loc[-1]), _fields_at(loc[:-1])), at_key=True)
        elif kind == "missing":
            if loc not in typos:
                yield pos.error(loc[:-1], f"missing required key `{loc[-1]}`", at_key=True)
        else:
            yield pos.error(loc, _value_message(kind, err["msg"], err.get("ctx", {}), err["input"]))


def _value_message(kind: str, detail: str, ctx: dict[str, Any], value: Any) -> str:
    """Pydantic's message in the spec's words, with the value that was given."""
    if kind in ("model_type", "dict_type"):
        message = "expected a mapping of keys to values"
    elif kind == "list_type":
        message = "expected a list"
    elif kind == "too_short" and isinstance(value, dict):
        message = f"needs at least {ctx.get('min_length', 1)} entry"
    elif kind == "string_pattern_mismatch" and ctx.get("pattern") in PATTERNS:
        message = f"expected {PATTERNS[ctx['pattern']]}"
    else:
        message = detail.removeprefix("Value error, ")
    if isinstance(value, dict) and kind not in ("model_type", "dict_type", "too_short"):
        return message
    return f"{message} (got {_short(value)})"


def _shown(text: str) -> str:
    """Spec text as it may stand in a one-line message: control characters escaped."""
    return text if text.isprintable() else json.dumps(text)[1:-1]


def _bad_name(name: str, detail: str) -> str:
    name = _shown(name)
    if "at most" in detail:
        return f"`{name}` is too long: {detail.lower()}"
    return (
        f"`{name}` is not a valid name: names start with a letter and use only letters, digits, "
        "`_` and `-`"
    )


def _close(key: str, valid: list[str]) -> list[str]:
    return difflib.get_close_matches(key, valid, n=1, cutoff=0.6)


def _unknown_key(key: str, valid: list[str]) -> str:
    message = f"unknown key `{_shown(key)}`"
    close = _close(key, valid)
    if close:
        return f"{message}; did you mean `{close[0]}`?"
    if valid:
        return f"{message}; valid keys here: {', '.join(valid)}"
    return message


def _fields_at(loc: Path_) -> list[str]:
    """The keys the spec allows at `loc`, found by walking the models."""
    model: Any = Spec
    for part in loc:
        if isinstance(model, type) and issubclass(model, BaseModel):
            field = model.model_fields.get(str(part))
            if field is None:
                return []
            model = _unwrap(field.annotation)
        elif get_origin(model) is dict:
            model = _unwrap(get_args(model)[1])
        elif get_origin(model) is list:
            model = _unwrap(get_args(model)[0])
        else:
            return []
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """`X | None` and `Annotated[X, ...]` -> `X`."""
    while True:
        args = [a for a in get_args(annotation) if a is not type(None)]
        origin = get_origin(annotation)
        if origin in (dict, list):
            return annotation
        if origin is not None and args:
            annotation = args[0]
            continue
        return annotation


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ---------------------------------------------------------------- JSON Schemas


def _schemas(data: dict[str, Any]) -> Iterator[tuple[Path_, Any]]:
    """Every payload, output and event schema in the raw spec, by path."""
    events = data.get("events")
    if isinstance(events, dict):
        for name, event in events.items():
            if isinstance(event, dict) and "payload" in event:
                yield ("events", name, "payload"), event["payload"]
    for base, block in _raw_versions(data):
        for group, keys in (("commands", ("payload", "output")), ("queues", ("payload",))):
            handlers = block.get(group)
            if not isinstance(handlers, dict):
                continue
            for hname, handler in handlers.items():
                if not isinstance(handler, dict):
                    continue
                for key in keys:
                    if key in handler:
                        yield (*base, group, hname, key), handler[key]


def _raw_versions(data: dict[str, Any]) -> Iterator[tuple[Path_, dict[str, Any]]]:
    """Each version block of the raw spec, by path: a service itself, or each of its `versions`."""
    services = data.get("services")
    if not isinstance(services, dict):
        return
    for sname, service in services.items():
        if not isinstance(service, dict):
            continue
        versions = service.get("versions")
        if isinstance(versions, dict):
            for number, block in versions.items():
                if isinstance(block, dict):
                    yield ("services", sname, "versions", number), block
        yield ("services", sname), service


def _set(data: Any, path: Path_, value: Any) -> None:
    for part in path[:-1]:
        data = data[part]
    data[path[-1]] = value


def _check_schema(schema: Any, path: Path_, pos: Positions) -> Iterator[SpecError]:
    if not isinstance(schema, dict):
        yield pos.error(path, "a schema must be a mapping (a JSON Schema object)")
        return
    cls = validator_for(schema, default=Draft202012Validator)
    if cls not in SUPPORTED_DRAFTS:
        yield pos.error(
            (*path, "$schema"), "only JSON Schema draft 2020-12 and draft 7 are supported"
        )
        return
    key = _schema_key(cls, schema)
    if cache.get("schemas", key, "") is None:  # not known to be valid yet
        errors = list(cls(cls.META_SCHEMA).iter_errors(schema))
        for err in errors:
            where = (*path, *err.absolute_path)
            message = err.message
            if err.absolute_path and err.absolute_path[-1] == "type":
                message = f"{err.instance!r} is not a JSON Schema type ({', '.join(JSON_TYPES)})"
            yield pos.error(where, f"invalid JSON Schema: {message}")
        if errors:
            return
        cache.put("schemas", key, "", "")
    kind = schema.get("type")
    if kind != "object" and not (kind is None and "properties" in schema):
        yield pos.error(
            path, "a payload, output or event schema must describe an object (`type: object`)"
        )
    yield from _check_keywords(schema, path, pos)


def _schema_key(cls: Any, schema: dict[str, Any]) -> str:
    """A schema's identity for the cache of schemas known to be valid under a metaschema."""
    text = json.dumps(schema, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{_JSONSCHEMA}\n{cls.__name__}\n{text}".encode()).hexdigest()


# Keywords the generated pydantic models cannot enforce: each is refused, never ignored.
_UNENFORCED = {
    "not": "`not`",
    "if": "`if`/`then`/`else`",
    "then": "`if`/`then`/`else`",
    "else": "`if`/`then`/`else`",
    "dependentRequired": "`dependentRequired`",
    "dependentSchemas": "`dependentSchemas`",
    "dependencies": "`dependencies`",
    "contains": "`contains`",
    "minContains": "`minContains`",
    "maxContains": "`maxContains`",
    "prefixItems": "`prefixItems` (a tuple)",
    "additionalItems": "`additionalItems` (a tuple)",
    "unevaluatedItems": "`unevaluatedItems`",
    "unevaluatedProperties": "`unevaluatedProperties`",
    "$dynamicRef": "`$dynamicRef`",
    "$dynamicAnchor": "`$dynamicAnchor`",
    "$recursiveRef": "`$recursiveRef`",
    "$recursiveAnchor": "`$recursiveAnchor`",
}
# Where a schema holds other schemas: one, a list of them, or a mapping of names to them.
_ONE_SCHEMA = (
    "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames",
    "additionalItems", "unevaluatedItems", "unevaluatedProperties", "contentSchema",
)  # fmt: skip
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")


def _check_keywords(schema: Any, path: Path_, pos: Positions) -> Iterator[SpecError]:
    """Refuse each keyword the models would silently ignore, at the keyword."""
    for sub, where in _subschemas(schema, path):
        for key in sub:
            if key in _UNENFORCED:
                problem = f"{_UNENFORCED[key]} is not supported"
            elif key == "uniqueItems" and sub[key] is True:
                problem = "`uniqueItems: true` is not supported"
            elif key == "items" and isinstance(sub[key], list):
                problem = "`items` as a list (a tuple) is not supported"
            elif key in ("minProperties", "maxProperties", "propertyNames") and (
                "properties" in sub or "patternProperties" in sub
            ):
                problem = f"`{key}` beside `properties` or `patternProperties` is not supported"
            elif key == "patternProperties" and (
                "properties" in sub or sub.get("additionalProperties") is not False
            ):
                problem = (
                    "`patternProperties` is supported only alone, with `additionalProperties: "
                    "false` (every key must match a pattern)"
                )
            else:
                continue
            yield pos.error(
                (*where, key),
                f"{problem}: the generated models cannot enforce it, and it would be ignored; "
                "remove it and check the rule in the handler",
                at_key=True,
            )


def _subschemas(schema: Any, path: Path_) -> Iterator[tuple[dict[str, Any], Path_]]:
    """`schema` and every schema inside it, each with its path."""
    if not isinstance(schema, dict):
        return
    yield schema, path
    for key, value in schema.items():
        if key in _ONE_SCHEMA or (key == "items" and isinstance(value, dict)):
            yield from _subschemas(value, (*path, key))
        elif key in _SCHEMA_LISTS or (key == "items" and isinstance(value, list)):
            if isinstance(value, list):
                for i, item in enumerate(value):
                    yield from _subschemas(item, (*path, key, i))
        elif key in _SCHEMA_MAPS or key == "dependencies":
            if isinstance(value, dict):
                for name, item in value.items():
                    yield from _subschemas(item, (*path, key, name))


# ---------------------------------------------------------------- references and names


def _check_versions(spec: Spec, pos: Positions) -> Iterator[SpecError]:
    """A service is written either inline (`version: N`) or with `versions:`, never both."""
    for sname, svc in spec.services.items():
        if not svc.versions:
            continue
        for key in ("version", *VERSION_KEYS):
            if key not in svc.model_fields_set:
                continue
            if key == "version":
                message = (
                    "`version` and `versions` cannot both be set: list every live version under "
                    "`versions` (`1: {...}`, `2: {...}`), or write one inline with `version`"
                )
            else:
                message = (
                    f"`{key}` belongs to a version when the service has `versions`: move it "
                    f"into each version (`versions.<N>.{key}`)"
                )
            yield pos.error(("services", sname, key), message, at_key=True)


def _check_references(spec: Spec, pos: Positions) -> Iterator[SpecError]:
    live = service_versions(spec)
    commands = {f"{v.name}.v{v.version}.{c}" for v in live for c in v.block.commands}
    queues = {q for v in live for q in v.block.queues}
    events = set(spec.events)
    for sv in live:
        svc = sv.block
        handlers = [
            *(("commands", n, h) for n, h in svc.commands.items()),
            *(("subscriptions", n, h) for n, h in svc.subscriptions.items()),
            *(("queues", n, h) for n, h in svc.queues.items()),
        ]
        for group, hname, handler in handlers:
            base: Path_ = (*sv.path, group, hname)
            for key, targets, known, what in (
                ("can_invoke", handler.can_invoke, commands, "command"),
                ("can_emit", handler.can_emit, events, "event"),
                ("can_enqueue", handler.can_enqueue, queues, "queue"),
            ):
                for i, target in enumerate(targets):
                    if target not in known:
                        yield pos.error((*base, key, i), unresolved(what, target, known))
                if len(set(targets)) != len(targets):
                    yield pos.error((*base, key), f"`{key}` lists the same {what} twice")
        for cname, command in svc.commands.items():
            event = command.success_event
            path: Path_ = (*sv.path, "commands", cname, "success_event")
            if event is not None:
                if event not in events:
                    yield pos.error(path, unresolved("event", event, events))
                else:
                    yield from _check_success_event(
                        command.output, spec.events[event].payload, path, pos
                    )
        for subname, sub in svc.subscriptions.items():
            if sub.event not in events:
                path = (*sv.path, "subscriptions", subname, "event")
                yield pos.error(path, unresolved("event", sub.event, events))


def _check_invoke_graph(spec: Spec, pos: Positions) -> Iterator[SpecError]:
    """Waiting on an invoke is allowed only across services, and never in a circle.

    A worker slot that waits for a command of its own service, or of a service
    that waits back, can exhaust the pool and deadlock it. A job queue runs in a
    worker of its own that nothing waits on (enqueueing does not wait), so its
    jobs may invoke any command, their own service's included.
    """
    live = service_versions(spec)
    # A worker is one version of a service: a node is named after its service alone
    # while that service has one version, `<service>.v<N>` when it has several.
    several = {v.name for v in live if len(spec.services[v.name].live()) > 1}
    node = {
        f"{v.name}.v{v.version}": f"{v.name}.v{v.version}" if v.name in several else v.name
        for v in live
    }
    where = {node[f"{v.name}.v{v.version}"]: v.path for v in live}
    calls: dict[str, set[str]] = {name: set() for name in where}
    for sv in live:
        caller = node[f"{sv.name}.v{sv.version}"]
        groups = (
            ("commands", sv.block.commands),
            ("subscriptions", sv.block.subscriptions),
        )
        for group, handlers in groups:
            for hname, handler in handlers.items():
                for i, target in enumerate(handler.can_invoke):
                    callee = node.get(target.rsplit(".", 1)[0])
                    if callee == caller:
                        yield pos.error(
                            (*sv.path, group, hname, "can_invoke", i),
                            f"`{_shown(target)}` is a command of the same service; call its "
                            "code directly (waiting on your own service can deadlock its worker "
                            "pool)",
                        )
                    elif callee is not None:
                        calls[caller].add(callee)
    for cycle in _cycles(calls):
        path = " -> ".join([*cycle, cycle[0]])
        yield pos.error(
            where[cycle[0]],
            f"services invoke each other in a circle ({path}); a full worker pool on each side "
            "would wait forever. Break the circle with an event",
            at_key=True,
        )


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle per group of services that reach each other (Tarjan's components, linear time).

    Each circle is reported from its smallest name along a shortest way back to it.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for start in sorted(graph):
        if start not in index:
            connect(start)
    return sorted(_circle(graph, min(c), c) for c in components)


def _circle(graph: dict[str, set[str]], start: str, members: set[str]) -> list[str]:
    """A shortest way from `start` back to itself inside one component."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & members):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return path[::-1]
                if nxt not in came_from:
                    came_from[nxt] = node
                    following.append(nxt)
        frontier = following
    return [start]


def unresolved(what: str, target: str, known: set[str]) -> str:
    """No `what` named `target`: the closest of `known`, or where such a thing is declared."""
    message = f"no {what} `{_shown(target)}`"
    close = difflib.get_close_matches(target, sorted(known), n=1, cutoff=0.6)
    if close:
        return f"{message}; did you mean `{close[0]}`?"
    if what == "command":
        return f"{message}; commands are named `<service>.v<N>.<command>`"
    where = "under `events`" if what == "event" else "under a service's `queues`"
    return f"{message}; declare it {where}"


def _check_success_event(
    output: dict[str, Any], event: dict[str, Any], path: Path_, pos: Positions
) -> Iterator[SpecError]:
    """The output is published as the event, so the event's schema must accept every output."""
    for message in _accepts(_Schema(output, output), _Schema(event, event), ""):
        yield pos.error(path, message)


class _Schema:
    """A (sub)schema with the root its `#` references resolve in."""

    def __init__(self, node: Any, root: Any, depth: int = 0) -> None:
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) and depth < 50:
            target = _pointer(root, node["$ref"])
            if target is None:
                break
            node, depth = target, depth + 1
        self.node: dict[str, Any] = node if isinstance(node, dict) else {}
        self.root = root
        self.depth = depth

    def child(self, node: Any) -> _Schema:
        return _Schema(node, self.root, self.depth + 1)

    def types(self) -> set[str] | None:
        """The JSON types the schema allows, or None when it does not say plainly."""
        if any(k in self.node for k in ("$ref", "allOf", "anyOf", "oneOf")):
            return None
        kind = self.node.get("type")
        if kind is None:
            return {"object"} if "properties" in self.node else None
        kinds = set(kind) if isinstance(kind, list) else {kind}
        return kinds | ({"integer"} if "number" in kinds else set())

    def always_sent(self) -> set[str]:
        """The properties every instance carries: required ones and those with a default."""
        props = self.node.get("properties", {})
        with_default = {
            name
            for name, sub in props.items()
            if isinstance(sub, dict) and sub.get("default") is not None
        }
        return set(self.node.get("required", [])) | with_default


def _pointer(root: Any, ref: str) -> Any:
    if not ref.startswith("#"):
        return None
    found = pointer.walk(root, (pointer.unescape(p) for p in ref[1:].split("/") if p))
    return None if found is None else found[0]


def _accepts(output: _Schema, event: _Schema, where: str) -> Iterator[str]:
    """Why `event` may refuse a value that `output` allows at `where` (`""`: the whole object)."""
    if output.depth > 40:
        return
    shown = f"`{where}`" if where else "the output"
    out_types, event_types = output.types(), event.types()
    if event_types is not None and where:
        if out_types is None:
            allowed = " or ".join(sorted(event_types))
            yield f"the command's output may send {shown} of any type; the event accepts {allowed}"
            return
        extra = sorted(out_types - event_types)
        if extra:
            allowed = " or ".join(sorted(event_types))
            yield (
                f"the command's output may send {shown} as {' or '.join(extra)}; "
                f"the event accepts {allowed}"
            )
            return
    if "enum" in event.node or "const" in event.node:
        accepted = event.node.get("enum", [event.node.get("const")])
        sent = output.node.get("enum", [output.node["const"]] if "const" in output.node else None)
        if sent is None or any(value not in accepted for value in sent):
            yield f"the command's output may send {shown} with a value the event's `enum` refuses"
    if where == "" or (out_types or set()) & {"object"}:
        yield from _accepts_object(output, event, where)
    out_items, event_items = output.node.get("items"), event.node.get("items")
    if isinstance(event_items, dict) and isinstance(out_items, dict):
        yield from _accepts(output.child(out_items), event.child(event_items), f"{where}[]")


def _accepts_object(output: _Schema, event: _Schema, where: str) -> Iterator[str]:
    prefix = f"{where}." if where else ""
    missing = sorted(event.always_sent() - output.always_sent())
    if missing:
        names = ", ".join(f"`{prefix}{m}`" for m in missing)
        yield f"the command's output does not require {names}, which the event requires"
    out_props: dict[str, Any] = output.node.get("properties", {})
    event_props: dict[str, Any] = event.node.get("properties", {})
    if event.node.get("additionalProperties") is False:
        extra = sorted(set(out_props) - set(event_props))
        if extra:
            names = ", ".join(f"`{prefix}{m}`" for m in extra)
            yield (
                f"the command's output may send {names}, which the event does not allow "
                "(`additionalProperties: false`)"
            )
        if output.node.get("additionalProperties", False) not in (False, None) or (
            "patternProperties" in output.node
        ):
            yield (
                f"the command's output may send properties beyond its own at "
                f"{f'`{where}`' if where else 'its top level'}, which the event does not allow "
                "(`additionalProperties: false`)"
            )
    for name in sorted(set(out_props) & set(event_props)):
        yield from _accepts(
            output.child(out_props[name]), event.child(event_props[name]), f"{prefix}{name}"
        )


def _check_names(spec: Spec, pos: Positions) -> Iterator[SpecError]:
    hidden = hidden_module(spec.project.name)
    if hidden is not None:
        package = PythonIdentifier(spec.project.name)
        message = f"the package `{package}` would hide {hidden}; choose another name"
        yield pos.error(("project", "name"), message)
    yield from _collisions(pos, (("services", s) for s in spec.services), "services")
    live = service_versions(spec)
    for sv in live:
        sname, svc = sv.name, sv.block
        try:
            KubeName(spec.project.name, sname, f"v{sv.version}")
        except ValueError:
            label = "-".join([*words(spec.project.name), *words(sname), f"v{sv.version}"])
            message = (
                f"`{label}` (project, service and version) "
                f"is longer than the {KUBE_NAME_MAX_LENGTH} characters a Kubernetes name may have; "
                "choose a shorter service or project name"
            )
            yield pos.error(sv.path, message, at_key=True)
    for sv in live:
        sname, svc = sv.name, sv.block
        for qname in svc.queues:
            try:
                KubeName(spec.project.name, qname, "jobs")
            except ValueError:
                label = "-".join([*words(spec.project.name), *words(qname), "jobs"])
                message = (
                    f"`{label}` (project, queue and `jobs`, the name of its worker) is longer "
                    f"than the {KUBE_NAME_MAX_LENGTH} characters a Kubernetes name may have; "
                    "choose a shorter queue or project name"
                )
                yield pos.error((*sv.path, "queues", qname), message, at_key=True)
        if svc.uses_database and spec.infrastructure.database is None:
            yield pos.error(
                (*sv.path, "uses_database"),
                "the service uses the database, but `infrastructure.database` is not set; "
                "declare it (`url`, `max_connections`) so its connections can be planned",
            )
    yield from _collisions(pos, (("events", e) for e in spec.events), "events")
    yield from _collisions(
        pos,
        ((*v.path, "queues", q) for v in live for q in v.block.queues),
        "queues (queue names are project-wide, across every version)",
    )
    for sv in live:
        sname, svc = sv.name, sv.block
        handlers = [
            (*sv.path, group, name)
            for group, names in (
                ("commands", svc.commands),
                ("subscriptions", svc.subscriptions),
                ("queues", svc.queues),
            )
            for name in names
        ]
        what = f"`{sname}`" if sv.path[-1] == sname else f"`{sname}` v{sv.version}"
        yield from _collisions(pos, iter(handlers), f"handlers of service {what}")


def _check_deployment(spec: Spec, pos: Positions) -> Iterator[SpecError]:
    """An image without a tag of its own, and replicas inside their autoscale bounds."""
    kube = spec.infrastructure.kubernetes
    if kube.image is not None and ":" in kube.image.rsplit("/", 1)[-1]:
        repository, tag = kube.image.rsplit(":", 1)
        yield pos.error(
            ("infrastructure", "kubernetes", "image"),
            f"`image` is the repository without a tag: the manifests add `tag` (now "
            f"`{kube.tag}`), which would make `{kube.image}:{kube.tag}`; write "
            f"`image: {repository}` and `tag: {tag}`",
        )
    for sv in service_versions(spec):
        dep = sv.block.deployment
        scale = dep.autoscale
        if scale is None or scale.min_replicas <= dep.replicas <= scale.max_replicas:
            continue
        bounds = f"set `replicas` between {scale.min_replicas} and {scale.max_replicas}"
        base: Path_ = (*sv.path, "deployment")
        if "replicas" not in dep.model_fields_set:
            message = (
                f"`replicas` (not set, so {dep.replicas}) is below `autoscale.min_replicas` "
                f"{scale.min_replicas}; {bounds}"
            )
            yield pos.error((*base, "autoscale"), message, at_key=True)
        elif dep.replicas > scale.max_replicas:
            message = (
                f"`replicas` {dep.replicas} is above `autoscale.max_replicas` "
                f"{scale.max_replicas}: each `kubectl apply` starts {dep.replicas} instances "
                f"before KEDA scales them back, more connections than the plan counts; {bounds}"
            )
            yield pos.error((*base, "replicas"), message)
        else:
            message = (
                f"`replicas` {dep.replicas} is below `autoscale.min_replicas` "
                f"{scale.min_replicas}, which KEDA keeps running at least; {bounds}"
            )
            yield pos.error((*base, "replicas"), message)


def _collisions(pos: Positions, paths: Iterator[Path_], what: str) -> Iterator[SpecError]:
    seen: dict[str, Path_] = {}
    for path in paths:
        name = str(path[-1])
        for derived in (PythonIdentifier(name), ClassName(name)):
            first = seen.get(derived)
            if first is not None and first != path:
                message = f"`{name}` and `{first[-1]}` both become `{derived}`"
                if name == str(first[-1]):
                    message = f"`{name}` is also declared at `{dotted(first)}`"
                yield pos.error(path, f"{message}; rename one of these {what}", at_key=True)
                break
            seen[derived] = path


# ---------------------------------------------------------------- HTTP routes

#: Routes the gateway serves itself: (method, path shape).
BUILTIN_ROUTES = {
    ("GET", "/jobs/{}"): "the status of a job",
    ("GET", "/openapi.json"): "the OpenAPI document",
    ("GET", "/healthz"): "the liveness probe",
    ("GET", "/readyz"): "the readiness probe",
}


def _check_http(spec: Spec, pos: Positions) -> Iterator[SpecError]:
    """Each route's parameters name scalar payload properties; no two routes collide."""
    seen: dict[tuple[str, str], Path_] = {}
    for live in service_versions(spec):
        exposed = [
            *(("commands", n, h.payload, h.http) for n, h in live.block.commands.items()),
            *(("queues", n, h.payload, h.http) for n, h in live.block.queues.items()),
        ]
        for group, hname, payload, http in exposed:
            if http is None:
                continue
            base: Path_ = (*live.path, group, hname, "http")
            yield from _check_route(http, payload, base, pos)
            key = (http.method, path_shape(http.path))
            if key in BUILTIN_ROUTES:
                yield pos.error(
                    (*base, "path"),
                    f"{http.method} {http.path} is the gateway's own route for "
                    f"{BUILTIN_ROUTES[key]}; choose another path",
                )
            elif key in seen:
                first = seen[key]
                yield pos.error(
                    (*base, "path"),
                    f"{http.method} {http.path} collides with the route of "
                    f"`{'.'.join(str(p) for p in first[1:-1])}` (the same method and path shape)",
                )
            else:
                seen[key] = base


def _check_route(
    http: Http, payload: dict[str, Any], base: Path_, pos: Positions
) -> Iterator[SpecError]:
    """A route's `{param}`s name scalar properties; a GET's payload fits in a query string."""
    group = base[-3]
    props: dict[str, Any] = resolve(payload, payload).get("properties", {})
    params = path_params(http.path)
    for param in params:
        if params.count(param) > 1:
            yield pos.error((*base, "path"), f"`{{{param}}}` appears twice in the path")
            break
    for param in dict.fromkeys(params):
        if param not in props:
            known = ", ".join(f"`{p}`" for p in props) or "none"
            yield pos.error(
                (*base, "path"),
                f"`{{{param}}}` names no top-level property of the payload "
                f"(its properties: {known})",
            )
        elif scalar_kind(props[param], payload) is None:
            yield pos.error(
                (*base, "path"),
                f"`{{{param}}}` fills the payload property `{param}`, which must be a "
                "string, integer, number or boolean to stand in a path",
            )
    if http.method == "GET":
        if group == "queues":
            yield pos.error(
                (*base, "method"),
                "a job queue cannot be served by GET (each call adds a job); use POST",
            )
        for prop, sub in props.items():
            if prop not in params and url_field(sub, payload) is None:
                yield pos.error(
                    (*base, "method"),
                    f"GET takes the payload from the query string, but the property "
                    f"`{prop}` is not a scalar or an array of scalars; use POST",
                )
