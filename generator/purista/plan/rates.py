"""Capacity from measurement: the replicas that sustain target rates, and what they cost.

`python -m <package> bench TARGET` keeps each handler's service time (the worker's time
in the handler, without queueing) in `.purista/measurements.json`. For a target rate
of R messages a second on a handler whose mean service time is S seconds, R x S slots
are busy on average (Little's law); the plan asks for `HEADROOM` times that, so a
worker runs at about 3/4 of its slots and a burst has room. Rates on handlers of one
worker add up. The replicas are the slots over the worker's concurrency, rounded up,
and the database and Redis connections follow from them as in `purista plan`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from purista.errors import CheckFailed, UsageError
from purista.plan.capacity import budget, capacity
from purista.plan.model import Budget, Deploy, Plan, Worker

HEADROOM = 1.3
_RATE = re.compile(r"^(?P<target>[^=\s]+)=(?P<rate>[0-9]*\.?[0-9]+)(?:/s)?$")


@dataclass(frozen=True)
class Load:
    """One handler's share of a target rate, and what it asks of its worker."""

    target: str
    rate: float
    handler: str
    worker: Worker
    service_time: float  # mean, seconds

    @property
    def slots(self) -> float:
        """Slots this load keeps busy, with the headroom."""
        return self.rate * self.service_time * HEADROOM


@dataclass(frozen=True)
class Sized:
    """A worker sized for the loads on it."""

    worker: Worker  # with the replicas needed as its max replicas, and their capacity
    slots: float
    loads: tuple[Load, ...]


def parse_rates(texts: list[str]) -> dict[str, float]:
    """`TARGET=N/s` arguments as {target: rate}; a malformed one is a usage error."""
    rates: dict[str, float] = {}
    for text in texts:
        match = _RATE.match(text.strip())
        if match is None or float(match["rate"]) <= 0:
            raise UsageError(
                f"--target-rate {text!r}: expected TARGET=N/s, e.g. user.v1.signUp=200/s"
            )
        rates[match["target"]] = rates.get(match["target"], 0.0) + float(match["rate"])
    return rates


def read_measurements(path: Path) -> dict[str, Any]:
    """The handlers' measured service times (empty without a file)."""
    try:
        handlers = json.loads(path.read_text(encoding="utf-8")).get("handlers", {})
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, AttributeError) as exc:
        raise UsageError(f"{path}: not a measurements file of `bench` ({exc})") from None
    return dict(handlers)


def loads(plan: Plan, rates: dict[str, float], measured: dict[str, Any]) -> list[Load]:
    """Each target's handlers with their measured service time; unknown or unmeasured: errors."""
    package = plan.project.package
    handlers = {h.task: (svc, h) for svc in plan.services for h in svc.handlers}
    events = {e.name: [r.task for r in e.routes] for e in plan.events}
    found: list[Load] = []
    missing: list[str] = []
    for target, rate in rates.items():
        if target in events:
            tasks = events[target]
        elif target in handlers and handlers[target][1].kind != "subscription":
            tasks = [target]
        else:
            raise UsageError(f"--target-rate: no command, event or job queue {target} in the spec")
        for task in tasks:
            service, handler = handlers[task]
            if task not in measured:
                missing.append(f"{task} (run `python -m {package} bench {target}`)")
                continue
            worker = next(
                w
                for w in plan.deploy.workers
                if (w.kind == "queue" and w.name == task)
                or (w.kind == "service" and handler.kind != "queue" and w.service == service.name)
            )
            seconds = float(measured[task]["service_time"]["mean"])
            found.append(Load(target, rate, task, worker, seconds))
    if missing:
        raise CheckFailed("no measured service time for " + "; ".join(missing))
    return found


def size(deploy: Deploy, target_loads: list[Load]) -> tuple[list[Sized], Budget | None, Budget]:
    """The workers the loads need, and every worker's connections against the budgets."""
    by_worker: dict[str, list[Load]] = {}
    for load in target_loads:
        by_worker.setdefault(load.worker.kube_name, []).append(load)
    sized: list[Sized] = []
    workers: list[Worker] = []
    for worker in deploy.workers:
        on_it = by_worker.get(worker.kube_name)
        if on_it is None:
            workers.append(worker)
            continue
        slots = sum(load.slots for load in on_it)
        replicas = max(1, math.ceil(slots / worker.concurrency))
        needed = replace(
            worker,
            max_replicas=replicas,
            capacity=capacity(
                worker.kind,
                worker.pool,
                worker.concurrency,
                replicas,
                uses_database=worker.uses_database,
            ),
        )
        sized.append(Sized(needed, slots, tuple(on_it)))
        workers.append(needed)
    database = None
    if deploy.database is not None:
        db = deploy.database
        database = budget(
            workers,
            lambda w: w.capacity.db_connections_at_max,
            db.max_connections,
            db.reserved_connections,
        )
    redis = budget(
        workers, lambda w: w.capacity.redis_connections_at_max, deploy.redis.max_connections
    )
    return sized, database, redis


def binding(database: Budget | None, redis: Budget) -> list[str]:
    """The budgets the sized workers would break, each with what uses it."""
    found = []
    for name, b in (("database", database), ("redis", redis)):
        if b is not None and not b.ok:
            users = ", ".join(f"{who} ({n})" for who, n in b.users)
            found.append(
                f"{name}: {b.used_at_max} connections at those replicas, over the budget of "
                f"{b.budget}; by {users}"
            )
    return found


def report(
    sized: list[Sized], database: Budget | None, redis: Budget, problems: list[str]
) -> dict[str, Any]:
    """The sizing as plain values (`purista plan --target-rate ... --json`)."""

    def spent(b: Budget | None) -> dict[str, Any] | None:
        if b is None:
            return None
        return {"used": b.used_at_max, "budget": b.budget, "ok": b.ok}

    return {
        "headroom": HEADROOM,
        "workers": [
            {
                "worker": s.worker.kube_name,
                "concurrency": s.worker.concurrency,
                "busy_slots_with_headroom": round(s.slots, 3),
                "replicas_needed": s.worker.max_replicas,
                "db_connections": s.worker.capacity.db_connections_at_max,
                "redis_connections": s.worker.capacity.redis_connections_at_max,
                "loads": [
                    {
                        "target": load.target,
                        "rate_per_second": load.rate,
                        "handler": load.handler,
                        "mean_service_seconds": load.service_time,
                    }
                    for load in s.loads
                ],
            }
            for s in sized
        ],
        "database": spent(database),
        "redis": spent(redis),
        "ok": not problems,
        "problems": problems,
    }
