"""Benchmark `purista new` on a large synthetic spec (run on demand; not a test).

    .venv/bin/python benchmarks/generate_large.py [--services 50] [--commands 10] [--runs 3]

Writes a spec of N services x M commands (2 x N x M payload/output schemas of
realistic variety, a few events with subscriptions, can_emit/can_invoke links
across services without cycles) into a temp folder, then:

1. runs `purista new bench --spec <file> --output <tmp>` K times with a cold model
   cache (empty `PURISTA_CACHE_DIR`) and K times warm (same cache, second run),
   each in a fresh wrapper process that reports wall time and the child's max RSS
   (`resource.getrusage(RUSAGE_CHILDREN)`);
2. checks that the output is real: one handler file per command, one payload and
   one output model class per command, warm output identical to cold output;
3. runs the pipeline in-process (fresh interpreter, empty cache) under cProfile and,
   separately, with plain timers around each stage, and prints each stage's share.

The last block of output is meant to be pasted into a report.
"""

from __future__ import annotations

import argparse
import ast
import cProfile
import hashlib
import importlib
import json
import os
import platform
import pstats
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

TARGET_SECONDS = 30.0
TARGET_MB = 500.0
PROJECT = "bench"

# ---------------------------------------------------------------- the synthetic spec

_SERVICES = (
    ("user", "user"),
    ("billing", "invoice"),
    ("catalog", "product"),
    ("inventory", "stockItem"),
    ("shipping", "shipment"),
    ("payment", "payment"),
    ("notification-service", "message"),
    ("search", "searchIndex"),
    ("review", "review"),
    ("cart", "cart"),
    ("order", "order"),
    ("pricing", "priceRule"),
    ("promotion", "coupon"),
    ("loyalty", "rewardAccount"),
    ("warehouse", "location"),
    ("supplier", "supplier"),
    ("returns", "returnRequest"),
    ("fraud_check", "riskAssessment"),
    ("taxEngine", "taxRate"),
    ("media-store", "asset"),
    ("auth", "session"),
    ("audit", "auditEntry"),
    ("report", "report"),
    ("subscription", "plan"),
    ("support", "ticket"),
)
_VERBS = (
    "get",
    "list",
    "create",
    "update",
    "delete",
    "search",
    "archive",
    "restore",
    "export",
    "approve",
    "reject",
    "validate",
    "sync",
    "count",
)
_STATUSES = ("draft", "pending", "active", "suspended", "closed", "failed", "done")
_COUNTRY = {"type": "string", "pattern": "^[A-Z]{2}$", "description": "ISO 3166-1 alpha-2"}
_MONEY_DEF = {
    "type": "object",
    "properties": {
        "amount": {"type": "number", "minimum": 0, "maximum": 1_000_000_000},
        "currency": {"type": "string", "enum": ["EUR", "USD", "GBP", "JPY", "CHF"]},
    },
    "required": ["amount", "currency"],
    "additionalProperties": False,
}


def _cap(name: str) -> str:
    return name[:1].upper() + name[1:]


def _field_pool(entity: str) -> dict[str, Callable[[random.Random], dict[str, Any]]]:
    """Field name -> a function returning its schema; names are fixed, details vary."""

    def string(rng: random.Random) -> dict[str, Any]:
        lo = rng.choice((1, 2, 3))
        return {"type": "string", "minLength": lo, "maxLength": rng.choice((40, 80, 120, 255))}

    def amount(rng: random.Random) -> dict[str, Any]:
        return {"type": "number", "minimum": 0, "maximum": rng.choice((1e4, 1e6, 1e9))}

    return {
        "email": lambda r: {"type": "string", "format": "email", "maxLength": 254},
        "name": string,
        "title": string,
        "code": lambda r: {
            "type": "string",
            "pattern": r.choice(("^[A-Z0-9-]{3,20}$", "^[a-z]+$")),
        },
        "createdAt": lambda r: {"type": "string", "format": "date-time"},
        "validFrom": lambda r: {"type": "string", "format": "date"},
        "website": lambda r: {"type": "string", "format": "uri"},
        "host": lambda r: {"type": "string", "format": r.choice(("hostname", "ipv4", "ipv6"))},
        "amount": amount,
        "price": lambda r: {"$ref": "#/$defs/money"},
        "quantity": lambda r: {"type": "integer", "minimum": 0, "maximum": r.choice((100, 10_000))},
        "discount": lambda r: {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "score": lambda r: {"type": "number", "minimum": 0, "maximum": 5, "multipleOf": 0.5},
        "priority": lambda r: {"type": "integer", "enum": [1, 2, 3, 4]},
        "status": lambda r: {
            "type": "string",
            "enum": r.sample(_STATUSES, r.randint(3, len(_STATUSES))),
            "description": f"Lifecycle state of the {entity}",
        },
        "active": lambda r: {"type": "boolean", "default": True},
        "note": lambda r: {"type": ["string", "null"], "maxLength": 500},
        "tags": lambda r: {
            "type": "array",
            "items": {"type": "string", "maxLength": 32},
            "maxItems": r.choice((10, 20)),
            "uniqueItems": True,
        },
        "metadata": lambda r: {"type": "object", "additionalProperties": {"type": "string"}},
        "address": lambda r: {
            "type": "object",
            "properties": {
                "street": {"type": "string", "maxLength": 200},
                "city": {"type": "string", "maxLength": 100},
                "postalCode": {"type": "string", "pattern": "^[0-9A-Z -]{3,10}$"},
                "country": _COUNTRY,
                "geo": {
                    "type": "object",
                    "properties": {
                        "lat": {"type": "number", "minimum": -90, "maximum": 90},
                        "lon": {"type": "number", "minimum": -180, "maximum": 180},
                    },
                    "required": ["lat", "lon"],
                },
            },
            "required": ["street", "city", "country"],
            "additionalProperties": False,
        },
        "lines": lambda r: {
            "type": "array",
            "minItems": 1,
            "maxItems": r.choice((50, 100, 500)),
            "items": {
                "type": "object",
                "properties": {
                    "sku": {"type": "string", "pattern": "^[A-Z0-9-]{3,20}$"},
                    "quantity": {"type": "integer", "minimum": 1},
                    "unitPrice": {"$ref": "#/$defs/money"},
                },
                "required": ["sku", "quantity"],
            },
        },
    }


@dataclass
class _Entity:
    """One service's main record: its fields and which of them are required."""

    name: str
    fields: dict[str, dict[str, Any]]
    required: list[str]


def _entity(rng: random.Random, name: str) -> _Entity:
    pool = _field_pool(name)
    chosen = rng.sample(sorted(pool), rng.randint(4, 9))
    fields: dict[str, dict[str, Any]] = {"id": {"type": "string", "format": "uuid"}}
    for fname in chosen:
        schema = pool[fname](rng)
        if rng.random() < 0.3 and "$ref" not in schema:
            schema["description"] = f"The {name}'s {fname}"
        fields[fname] = schema
    required = ["id", *(f for f in chosen if rng.random() < 0.5)]
    return _Entity(name, fields, required)


def _obj(props: dict[str, Any], required: list[str], **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = required
    return schema | extra


def _with_defs(schema: dict[str, Any]) -> dict[str, Any]:
    """A root schema with the `$defs` its `$ref`s point at (`#/$defs/money`)."""
    if '"$ref"' in json.dumps(schema):
        return {**schema, "$defs": {"money": _MONEY_DEF}}
    return schema


def _record(e: _Entity) -> dict[str, Any]:
    return _obj(dict(e.fields), list(e.required))


def _schemas(verb: str, e: _Entity, rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    """Payload and output schema of `<verb><Entity>`."""
    uid = {"type": "string", "format": "uuid"}
    body = {k: v for k, v in e.fields.items() if k != "id"}
    if verb == "get":
        include = {"type": "array", "items": {"enum": sorted(body)[:3]}, "maxItems": 3}
        return _obj({"id": uid, "include": include}, ["id"]), _record(e)
    if verb in ("list", "search", "export"):
        page = {
            "cursor": {"type": "string", "maxLength": 200},
            "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
            "sort": {
                "type": "string",
                "enum": [f"{k}:{d}" for k in sorted(body)[:2] for d in ("asc", "desc")],
            },
            "filter": _obj({k: v for k, v in list(body.items())[:3]}, []),
        }
        if verb == "search":
            page["query"] = {"type": "string", "minLength": 2, "maxLength": 200}
        items = {"type": "array", "items": _record(e), "maxItems": 100}
        out = {
            "items": items,
            "total": {"type": "integer", "minimum": 0},
            "nextCursor": {"type": ["string", "null"]},
        }
        return _obj(page, ["query"] if verb == "search" else []), _obj(out, ["items", "total"])
    if verb == "create":
        payload = _obj(body, [r for r in e.required if r != "id"], additionalProperties=False)
        created = {"id": uid, "createdAt": {"type": "string", "format": "date-time"}}
        return payload, _obj(created, ["id", "createdAt"])
    if verb == "update":
        props = {"id": uid, **dict(rng.sample(sorted(body.items()), min(3, len(body))))}
        return _obj(props, ["id"], minProperties=2), _record(e)
    if verb in ("delete", "archive", "restore", "approve", "reject"):
        reason = {"type": "string", "maxLength": 500}
        ok = {"done": {"type": "boolean"}, "at": {"type": "string", "format": "date-time"}}
        return _obj({"id": uid, "reason": reason}, ["id"]), _obj(ok, ["done"])
    batch = {"type": "array", "items": uid, "minItems": 1, "maxItems": rng.choice((25, 100))}
    result = {
        "accepted": {"type": "integer", "minimum": 0},
        "errors": {
            "type": "array",
            "maxItems": 100,
            "items": _obj({"id": uid, "message": {"type": "string"}}, ["id", "message"]),
        },
    }
    return _obj({"ids": batch, "dryRun": {"type": "boolean", "default": False}}, ["ids"]), _obj(
        result, ["accepted"]
    )


def _names(n_services: int) -> list[tuple[str, str]]:
    out = []
    for i in range(n_services):
        sname, entity = _SERVICES[i % len(_SERVICES)]
        round_ = i // len(_SERVICES)
        out.append((sname if round_ == 0 else f"{sname}-{round_ + 1}", entity))
    return out


def _command_names(entity: str, m: int) -> list[tuple[str, str]]:
    out = []
    for i in range(m):
        verb = _VERBS[i % len(_VERBS)]
        noun = _cap(entity) + ("s" if verb in ("list", "search", "export", "count") else "")
        suffix = "" if i < len(_VERBS) else str(i // len(_VERBS) + 1)
        out.append((f"{verb}{noun}{suffix}", verb))
    return out


def _deployment(rng: random.Random) -> dict[str, Any]:
    dep: dict[str, Any] = {
        "replicas": rng.randint(1, 3),
        "concurrency": rng.choice((2, 4, 8)),
        "pool": rng.choice(("prefork", "threads")),
        "resources": {"cpu": rng.choice(("100m", "250m", "500m")), "memory": "256Mi"},
    }
    if rng.random() < 0.4:
        dep["autoscale"] = {"min_replicas": 1, "max_replicas": rng.randint(4, 8)}
    return dep


def build_spec(n_services: int, m_commands: int, seed: int = 0) -> dict[str, Any]:
    """A valid spec with `n_services` x `m_commands` commands; deterministic for a seed."""
    rng = random.Random(seed)
    names = _names(n_services)
    services: dict[str, dict[str, Any]] = {}
    refs: list[list[str]] = []  # per service index: its command refs
    for i, (sname, entity) in enumerate(names):
        ver = 2 if i % 7 == 3 else 1
        e = _entity(rng, entity)
        commands: dict[str, Any] = {}
        for cname, verb in _command_names(entity, m_commands):
            payload, output = (_with_defs(s) for s in _schemas(verb, e, rng))
            cmd: dict[str, Any] = {"description": f"{_cap(verb)} {entity} records"}
            if rng.random() < 0.3:
                cmd["timeout"] = rng.choice((5, 10, 60, 120))
            commands[cname] = {**cmd, "payload": payload, "output": output}
        refs.append([f"{sname}.v{ver}.{c}" for c in commands])
        services[sname] = {
            "version": ver,
            "description": f"Owns {entity} records",
            "deployment": _deployment(rng),
            "uses_database": i % 10 == 0,
            "commands": commands,
        }
        if rng.random() < 0.3:
            services[sname]["state_ttl"] = rng.choice((60, 300, 3600))
    _link_invokes(services, refs, rng)
    events = _link_events(services, names, rng)
    infra = {
        "redis": {"url": "redis://localhost:6379/0", "max_connections": 10000},
        "database": {"url": "postgresql://localhost:5432/bench", "max_connections": 1000},
        "tracing": {"exporter": "otlp", "endpoint": "http://otel-collector:4317"},
        "kubernetes": {"namespace": PROJECT, "image": "ghcr.io/acme/bench", "tag": "0.1.0"},
    }
    return {
        "spec_version": 1,
        "project": {"name": PROJECT, "description": "Synthetic large spec for benchmarks"},
        "infrastructure": infra,
        "events": events,
        "services": services,
    }


def _link_invokes(services: dict[str, Any], refs: list[list[str]], rng: random.Random) -> None:
    """About 1 command in 5 invokes commands of later services only: no self-calls, no cycles."""
    keys = list(services)
    for i, sname in enumerate(keys):
        later = [r for j in range(i + 1, min(len(keys), i + 6)) for r in refs[j]]
        if not later:
            continue
        for cmd in services[sname]["commands"].values():
            if rng.random() < 0.2:
                cmd["can_invoke"] = sorted(rng.sample(later, min(len(later), rng.randint(1, 2))))


def _link_events(
    services: dict[str, Any], names: list[tuple[str, str]], rng: random.Random
) -> dict[str, Any]:
    """One `<entity>Created` event per 10 services: success_event, can_emit and subscribers."""
    events: dict[str, Any] = {}
    keys = list(services)
    for i in range(0, len(keys), 10):
        sname, entity = names[i]
        event = f"{entity}Created"
        events[event] = {
            "description": f"A {entity} was created",
            "payload": _obj(
                {
                    "id": {"type": "string", "format": "uuid"},
                    "createdAt": {"type": "string", "format": "date-time"},
                    "source": {"type": "string", "maxLength": 50},
                },
                ["id", "createdAt"],
            ),
        }
        commands = services[sname]["commands"]
        create = next((c for c in commands if c.startswith("create")), None)
        if create is not None:
            commands[create]["success_event"] = event
        for cname in [c for c in commands if c.startswith(("update", "restore"))]:
            commands[cname]["can_emit"] = [event]
        others = [k for k in keys if k != sname]
        for sub in rng.sample(others, min(3, len(others))):
            handler: dict[str, Any] = {"event": event, "description": f"React to {event}"}
            later = keys[keys.index(sub) + 1 : keys.index(sub) + 4]
            if later:
                target = later[0]
                first = next(iter(services[target]["commands"]))
                handler["can_invoke"] = [f"{target}.v{services[target]['version']}.{first}"]
            services[sub].setdefault("subscriptions", {})[f"on{_cap(event)}"] = handler
    return events


def write_spec(spec: dict[str, Any], path: Path) -> None:
    """Block-style YAML with flow-style leaves, like a hand-written spec."""
    from ruamel.yaml import YAML  # noqa: PLC0415  (a purista dependency)

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = None
    yaml.width = 120
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        fh.write("# Synthetic spec written by benchmarks/generate_large.py\n")
        yaml.dump(spec, fh)


# ---------------------------------------------------------------- subprocess runs

_WRAPPER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True, check=False)
wall = time.perf_counter() - start
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
scale = 1 if sys.platform == "darwin" else 1024
print(json.dumps({
    "rc": proc.returncode, "wall": wall, "rss": ru.ru_maxrss * scale,
    "cpu": ru.ru_utime + ru.ru_stime, "out": (proc.stdout + proc.stderr)[-3000:],
}))
"""


@dataclass(frozen=True)
class Run:
    """One measured `purista new`."""

    wall: float
    rss: int  # bytes: max RSS of the largest process in the tree (python or ruff)
    cpu: float  # user + sys seconds of the whole tree
    target: Path


def purista_new(purista: str, spec: Path, output: Path, cache: Path) -> Run:
    """Run `purista new` in a fresh wrapper process; fail loudly if it fails."""
    env = dict(os.environ, PURISTA_CACHE_DIR=str(cache))
    command = [purista, "new", PROJECT, "--spec", str(spec), "--output", str(output)]
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *command],
        capture_output=True,
        text=True,
        env=env,
        cwd=output.parent,
        check=True,
    )
    data = json.loads(proc.stdout)
    if data["rc"] != 0:
        sys.exit(f"purista new failed (exit {data['rc']}):\n{data['out']}")
    return Run(data["wall"], data["rss"], data["cpu"], output / PROJECT)


def measure(purista: str, spec: Path, work: Path, runs: int) -> tuple[list[Run], list[Run]]:
    """K cold runs (each on an empty cache) and K warm runs (the same cache, again)."""
    cold: list[Run] = []
    warm: list[Run] = []
    for k in range(1, runs + 1):
        cache = work / f"cache-{k}"
        cache.mkdir()
        for kind, runs_ in (("cold", cold), ("warm", warm)):
            out = work / f"{kind}-{k}"
            out.mkdir()
            run = purista_new(purista, spec, out, cache)
            runs_.append(run)
            mb = run.rss / 2**20
            print(f"  run {k} {kind}: {run.wall:6.2f} s wall, {run.cpu:6.2f} s cpu, {mb:6.0f} MB")
    return cold, warm


# ---------------------------------------------------------------- verifying the output


@dataclass
class Check:
    """What the generated project holds, against what the spec asks for."""

    command_handlers: int = 0
    subscription_handlers: int = 0
    model_classes: int = 0  # Payload/Output classes of commands, as expected by name
    all_classes: int = 0  # including nested classes generated for nested objects
    missing: list[str] = field(default_factory=list)
    files: int = 0
    bytes: int = 0


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _same(a: Path, b: Path) -> str:
    """`yes`, or `NO` and the first paths that differ."""
    ta, tb = _tree(a), _tree(b)
    if ta == tb:
        return "yes"
    diff = sorted(p for p in ta.keys() | tb.keys() if ta.get(p) != tb.get(p))
    return f"NO ({len(diff)} files differ: {', '.join(diff[:4])}{', ...' if len(diff) > 4 else ''})"


def source_fingerprint() -> str:
    """A hash of purista's code and templates, to notice edits made while the benchmark ran."""
    import purista  # noqa: PLC0415
    from purista.paths import data_dir  # noqa: PLC0415

    digest = hashlib.sha256()
    for root in (Path(purista.__file__).parent, data_dir("templates")):
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def verify(root: Path, spec: dict[str, Any]) -> Check:
    """Count handler files and model classes of the generated project at `root`."""
    from purista.spec.names import ClassName, PythonIdentifier  # noqa: PLC0415

    check = Check()
    for path in root.rglob("*"):
        if path.is_file():
            check.files += 1
            check.bytes += path.stat().st_size
    services = root / "src" / PythonIdentifier(PROJECT) / "services"
    for group in ("commands", "subscriptions"):
        count = sum(1 for p in services.glob(f"*/v*/{group}/*.py") if p.name != "__init__.py")
        setattr(check, f"{group[:-1]}_handlers", count)
    for sname, svc in spec["services"].items():
        models = services / PythonIdentifier(sname) / f"v{svc['version']}/_generated/models.py"
        tree = ast.parse(models.read_text(encoding="utf-8"))
        classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
        check.all_classes += len(classes)
        for cname in svc["commands"]:
            for suffix in ("Payload", "Output"):
                expected = ClassName(cname, suffix)
                if expected in classes:
                    check.model_classes += 1
                else:
                    check.missing.append(f"{models.relative_to(root)}: {expected}")
    return check


# ---------------------------------------------------------------- in-process stage split

# (label, module, attribute, indent): the functions whose time is summed, as pipeline calls them.
_STAGES = (
    ("load", "purista.load", "load_spec", 0),
    ("validate", "purista.validate", "validate_spec", 0),
    ("plan", "purista.plan", "build_plan", 0),
    ("render", "purista.render", "render", 0),
    ("models", "purista.models", "models", 0),
    ("datamodel-code-generator", "purista.models", "_generate", 1),
    ("format", "purista.format", "format_files", 0),
    ("ruff subprocesses", "purista.format", "_ruff", 1),
    ("write", "purista.write", "write_new", 0),
)


def _functions() -> dict[str, Any]:
    out = {}
    for label, module, attr, _ in _STAGES:
        func = getattr(importlib.import_module(module), attr, None)
        if func is not None:
            out[label] = func
    return out


def _pipeline_run(spec: Path, target: Path) -> None:
    from purista import pipeline  # noqa: PLC0415
    from purista.load import load_spec  # noqa: PLC0415

    pipeline.new_project(load_spec(spec), target)


def stage_profile(spec: Path, target: Path) -> dict[str, float]:
    """Cumulative seconds per stage under cProfile (this interpreter, cache as set)."""
    funcs = _functions()
    profile = cProfile.Profile()
    start = time.perf_counter()
    profile.runcall(_pipeline_run, spec, target)
    wall = time.perf_counter() - start
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    by_key = {key: value[3] for key, value in stats.items()}
    out: dict[str, float] = {"total": wall}
    for label, func in funcs.items():
        code = func.__code__
        out[label] = by_key.get((code.co_filename, code.co_firstlineno, code.co_name), 0.0)
    own = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)[:10]
    for (filename, line, name), value in own:
        where = "/".join(Path(filename).parts[-2:]) if filename != "~" else "builtin"
        out[f"hot: {where}:{line}({name})"] = value[2]
    return out


def stage_timed(spec: Path, target: Path) -> dict[str, float]:
    """Seconds per stage with plain timers wrapped around the stage functions (no profiler)."""
    totals: dict[str, float] = {}
    patched: list[tuple[Any, str, Any]] = []

    def timer(label: str, func: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                totals[label] = totals.get(label, 0.0) + time.perf_counter() - start

        return wrapper

    for label, func in _functions().items():
        wrapped = timer(label, func)
        for name in ("purista.pipeline", "purista.models", "purista.format", "purista.load"):
            module = importlib.import_module(name)
            if getattr(module, func.__name__, None) is func:
                patched.append((module, func.__name__, func))
                setattr(module, func.__name__, wrapped)
    start = time.perf_counter()
    try:
        _pipeline_run(spec, target)
    finally:
        for module, name, func in patched:
            setattr(module, name, func)
    return {"total": time.perf_counter() - start, **totals}


def dcg_startup() -> dict[str, float]:
    """Fixed cost of datamodel-code-generator: import and first call, less a second call."""
    from purista.models import _OPTIONS  # noqa: PLC0415

    tiny = json.dumps({"type": "object", "properties": {"a": {"type": "string"}}})
    start = time.perf_counter()
    import datamodel_code_generator as dcg  # noqa: PLC0415

    dcg.generate(tiny, **_OPTIONS)
    first = time.perf_counter() - start
    start = time.perf_counter()
    dcg.generate(tiny, **_OPTIONS)
    return {"total": first - (time.perf_counter() - start)}


def run_stages(mode: str, spec: Path, target: Path, cache: Path) -> dict[str, float]:
    """Run `stage_profile` or `stage_timed` in a fresh interpreter, so imports are cold too."""
    env = dict(os.environ, PURISTA_CACHE_DIR=str(cache))
    argv = [sys.executable, __file__, "--stage-run", mode, str(spec), str(target)]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        sys.exit(f"in-process {mode} run failed:\n{proc.stderr[-3000:]}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# ---------------------------------------------------------------- report


def _fmt_runs(runs: list[Run]) -> tuple[str, str, str]:
    walls = [r.wall for r in runs]
    mbs = [r.rss / 2**20 for r in runs]
    cpus = [r.cpu for r in runs]
    return (
        f"median {statistics.median(walls):6.2f} s   min {min(walls):6.2f} s",
        f"median {statistics.median(mbs):6.0f} MB  min {min(mbs):6.0f} MB",
        f"median {statistics.median(cpus):6.2f} s",
    )


def _machine() -> str:
    tools = ", ".join(f"{n} {version(n)}" for n in ("purista", "datamodel-code-generator", "ruff"))
    cpu = f"{os.cpu_count()} cores {platform.machine()}"
    return f"{cpu}, Python {platform.python_version()}, {tools}"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _stage_rows(columns: list[dict[str, float]]) -> Iterator[str]:
    head = f"  {'stage':<40}" + "".join(f"{'s':>9} {'share':>6}  " for _ in columns)
    yield head.rstrip()
    rows = [(label, indent) for label, _, _, indent in _STAGES]
    top = [label for label, _, _, indent in _STAGES if indent == 0]
    for label, indent in [*rows, ("other (glue between stages)", 0), ("total", 0)]:
        cells = []
        for col in columns:
            if label.startswith("other"):
                value = col["total"] - sum(col.get(t, 0.0) for t in top)
            else:
                value = col.get(label)
            share = "" if value is None else f"{100 * value / col['total']:5.1f}%"
            cells.append("      n/a        " if value is None else f"{value:9.2f} {share:>6}  ")
        name = ("  " * indent + ("of which " if indent else "") + label)[:40]
        yield (f"  {name:<40}" + "".join(cells)).rstrip()


def report(args: argparse.Namespace, facts: dict[str, Any]) -> None:
    """Print the block of figures."""
    cold, warm, check = facts["cold"], facts["warm"], facts["check"]
    c_wall, c_mem, c_cpu = _fmt_runs(cold)
    w_wall, w_mem, w_cpu = _fmt_runs(warm)
    worst_wall = max(statistics.median([r.wall for r in runs]) for runs in (cold, warm))
    worst_mb = max(r.rss for r in cold + warm) / 2**20
    n = args.services * args.commands
    lines = [
        "=" * 78,
        f"purista new: {args.services} services x {args.commands} commands = {n} commands,"
        f" {2 * n} payload/output schemas",
        f"command:  {facts['command']}",
        f"machine:  {_machine()}",
        f"spec:     {facts['spec_lines']} lines, {facts['spec_bytes'] / 1024:.0f} KiB,"
        f" {facts['events']} events, {facts['subscriptions']} subscriptions,"
        f" {facts['invokes']} can_invoke links",
        f"load avg: {facts['load_before']:.2f} before, {os.getloadavg()[0]:.2f} after (1-min;"
        f" {os.cpu_count()} cores; anything else running inflates the times)",
        f"runs:     {args.runs} cold (empty PURISTA_CACHE_DIR) + {args.runs} warm (same cache)",
        "",
        f"  wall time  cold: {c_wall}    warm: {w_wall}",
        f"  peak RSS   cold: {c_mem}   warm: {w_mem}",
        f"  cpu time   cold: {c_cpu}  (user+sys of python and ruff)   warm: {w_cpu}",
        f"  target  wall <= {TARGET_SECONDS:.0f} s: {_verdict(worst_wall <= TARGET_SECONDS)}"
        f" (worst median {worst_wall:.2f} s)",
        f"  target  peak <= {TARGET_MB:.0f} MB: {_verdict(worst_mb <= TARGET_MB)}"
        f" (max of all runs {worst_mb:.0f} MB; largest single process, python or ruff)",
        "",
        f"  output: {check.files} files, {check.bytes / 2**20:.1f} MiB",
        f"  command handler files:   {check.command_handlers:5d} (expected {n})",
        f"  subscription handlers:   {check.subscription_handlers:5d}"
        f" (expected {facts['subscriptions']})",
        f"  payload/output classes:  {check.model_classes:5d} (expected {2 * n});"
        f" {check.all_classes} classes in all incl. nested objects",
        f"  warm output == cold output (run 1): {facts['same_warm']}",
        f"  cold run 1 == cold run 2 (deterministic): {facts['same_runs']}",
        f"  purista's code or templates changed while this ran: {facts['sources_changed']}",
        "",
        "  stage split of one cold run, in-process, fresh interpreter:",
        "  (columns: under cProfile | plain timers, no profiler | plain timers, warm cache)",
        *_stage_rows([facts["profile"], facts["timed"], facts["timed_warm"]]),
        f"  datamodel-code-generator fixed start-up (import + first call on a tiny schema):"
        f" {facts['dcg-startup']['total']:.2f} s",
        "",
        "  hottest functions by own time (cProfile, cold):",
        *(
            f"    {v:7.2f} s  {k.removeprefix('hot: ')}"
            for k, v in facts["profile"].items()
            if k.startswith("hot: ")
        ),
        "=" * 78,
    ]
    print("\n".join(lines))


def _spec_facts(spec: dict[str, Any], path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    handlers = [
        h
        for svc in spec["services"].values()
        for group in ("commands", "subscriptions")
        for h in svc.get(group, {}).values()
    ]
    return {
        "spec_lines": text.count("\n"),
        "spec_bytes": len(text.encode()),
        "events": len(spec["events"]),
        "subscriptions": sum(len(s.get("subscriptions", {})) for s in spec["services"].values()),
        "invokes": sum(len(h.get("can_invoke", [])) for h in handlers),
    }


def main() -> None:
    """Parse the options, run everything, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=50, help="services (default 50)")
    parser.add_argument("--commands", type=int, default=10, help="commands each (default 10)")
    parser.add_argument("--runs", type=int, default=3, help="cold and warm runs each (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic spec")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    parser.add_argument("--stage-run", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage_run:
        mode, spec_arg, target_arg = args.stage_run
        if mode == "dcg-startup":
            print(json.dumps(dcg_startup()))
        else:
            run = stage_profile if mode == "profile" else stage_timed
            print(json.dumps(run(Path(spec_arg), Path(target_arg))))
        return
    if args.services < 1 or args.commands < 1 or args.runs < 1:
        parser.error("--services, --commands and --runs must be at least 1")
    command = shlex.join([sys.executable, *sys.argv])
    print(f"$ {command}")
    purista = shutil.which("purista", path=str(Path(sys.executable).parent)) or "purista"
    work = Path(tempfile.mkdtemp(prefix="purista-bench-"))
    try:
        facts = _run(args, purista, work)
        facts["command"] = f"(cd {shlex.quote(os.getcwd())} && {command})"
        report(args, facts)
        check = facts["check"]
        n = args.services * args.commands
        ok = check.command_handlers == n and check.model_classes == 2 * n and not check.missing
        same = facts["same_warm"] == "yes" or facts["sources_changed"] != "no"
        if not ok or not same:
            print("\n".join(["output check FAILED", *check.missing[:20]]), file=sys.stderr)
            sys.exit(1)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _run(args: argparse.Namespace, purista: str, work: Path) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    sources = source_fingerprint()
    spec = build_spec(args.services, args.commands, args.seed)
    spec_path = work / "spec" / "purista.yaml"
    write_spec(spec, spec_path)
    facts = _spec_facts(spec, spec_path)
    print(f"spec: {spec_path} ({facts['spec_lines']} lines); purista: {purista}")
    warmup = work / "warmup"
    write_spec(build_spec(1, 1, args.seed), warmup / "purista.yaml")
    (warmup / "out").mkdir()
    purista_new(purista, warmup / "purista.yaml", warmup / "out", warmup / "cache")
    print("  warm-up run on a 1-command spec (OS file cache, bytecode; not counted)")
    cold, warm = measure(purista, spec_path, work, args.runs)
    check = verify(cold[0].target, spec)
    same_runs = "n/a (one run)"
    if len(cold) > 1:
        same_runs = _same(cold[0].target, cold[1].target)
    print("  stage split: cProfile, timers cold, timers warm ...")
    (work / "stage-cache").mkdir()
    stages = {
        mode: run_stages(mode.split("_")[0], spec_path, work / f"stage-{mode}", cache)
        for mode, cache in (
            ("profile", work / "profile-cache"),
            ("timed", work / "stage-cache"),
            ("timed_warm", work / "stage-cache"),
            ("dcg-startup", work / "unused-cache"),
        )
    }
    return facts | {
        "load_before": load_before,
        "sources_changed": "no"
        if source_fingerprint() == sources
        else "YES (output comparisons void)",
        "cold": cold,
        "warm": warm,
        "check": check,
        "same_warm": _same(cold[0].target, warm[0].target),
        "same_runs": same_runs,
        **stages,
    }


if __name__ == "__main__":
    main()
