"""How many database and Redis connections each worker opens, and whether they fit.

The unit that matters is the process. A prefork worker with concurrency 8 is a
main process and 8 children; each child runs one message at a time and needs a
pool of its own (it cannot share sockets across fork), so 1 database connection
per child. A threads worker with concurrency 8 is one process whose 8 threads
share one pool of 8. A job-queue worker is one process with `concurrency`
threads. Counting "a pool of 10 per instance" is wrong both ways.

Redis, per process that runs handlers, one connection per slot for each of:
the broker (the producer that sends invokes, events and success events), the
result backend (a command's result is stored), the runtime's own client (state
store, replies, job leases) and the client invokes wait on for their reply (a
short socket timeout of its own); a job worker stores no Celery results.
Besides those, a Celery worker's main process holds 4 (measured: the consumer's
BRPOP, acknowledgements, the remote-control pub/sub and one more kombu keeps),
and a job worker's lease keeper holds 1. A scheduler is one process with 2: its
runtime client (claims, job enqueues) and the broker connection it sends through.
The HTTP gateway is one process: per request slot (`concurrency`) a connection waiting
for a command's reply and one of the runtime's client (enqueues, job status, from worker
threads); besides those, the event loop's producer that sends the commands, and the
connection that checks Redis for `/readyz`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from purista.plan.model import Budget, Capacity, Deploy, PoolKind, Worker, WorkerKind

CELERY_CONSUMER_CONNECTIONS = 4
CELERY_SLOT_CONNECTIONS = 4  # producer, result backend, runtime client, reply waits
JOB_KEEPER_CONNECTIONS = 1
JOB_SLOT_CONNECTIONS = 3  # producer, runtime client, reply waits
GATEWAY_FIXED_CONNECTIONS = 2  # the event loop's producer, the readiness check
GATEWAY_SLOT_CONNECTIONS = 2  # reply waits, runtime client
DB_CONNECTIONS_PER_SLOT = 1  # a slot runs one message at a time
SCHEDULER_CONNECTIONS = 2  # runtime client (claims, enqueues), broker producer


def capacity(
    kind: WorkerKind,
    pool: PoolKind,
    concurrency: int,
    max_replicas: int,
    *,
    uses_database: bool,
) -> Capacity:
    """The connections of one worker, by process, instance and at `max_replicas`."""
    if kind == "scheduler":
        processes, slots, consumer, per_slot = 1, 1, 0, SCHEDULER_CONNECTIONS
    elif kind == "queue":
        processes, slots = 1, concurrency
        consumer, per_slot = JOB_KEEPER_CONNECTIONS, JOB_SLOT_CONNECTIONS
    elif kind == "gateway":
        processes, slots = 1, concurrency
        consumer, per_slot = GATEWAY_FIXED_CONNECTIONS, GATEWAY_SLOT_CONNECTIONS
    elif pool == "prefork":
        processes, slots = concurrency, 1
        consumer, per_slot = CELERY_CONSUMER_CONNECTIONS, CELERY_SLOT_CONNECTIONS
    else:
        processes, slots = 1, concurrency
        consumer, per_slot = CELERY_CONSUMER_CONNECTIONS, CELERY_SLOT_CONNECTIONS
    # Every slot of a process may hold a connection at once; a prefork child has one slot.
    db_per_process = slots * DB_CONNECTIONS_PER_SLOT if uses_database else 0
    redis_per_process = slots * per_slot
    redis_per_instance = consumer + processes * redis_per_process
    return Capacity(
        processes=processes,
        db_pool_per_process=db_per_process,
        db_connections_per_instance=processes * db_per_process,
        db_connections_at_max=processes * db_per_process * max_replicas,
        redis_consumer=consumer,
        redis_per_process=redis_per_process,
        redis_connections_per_instance=redis_per_instance,
        redis_connections_at_max=redis_per_instance * max_replicas,
    )


def budget(
    workers: Iterable[Worker],
    at_max: Callable[[Worker], int],
    max_connections: int,
    reserved_connections: int = 0,
) -> Budget:
    """What the workers use at max replicas, against `max_connections - reserved_connections`."""
    users = sorted(
        ((_label(w), at_max(w)) for w in workers if at_max(w) > 0),
        key=lambda u: (-u[1], u[0]),
    )
    return Budget(
        max_connections=max_connections,
        reserved_connections=reserved_connections,
        used_at_max=sum(n for _, n in users),
        users=tuple(users),
    )


def _label(worker: Worker) -> str:
    if worker.kind == "scheduler":
        return "scheduler"
    if worker.kind == "gateway":
        return "gateway"
    if worker.kind == "queue":
        return f"job queue {worker.name}"
    return f"{worker.name} v{worker.version}"


def problems(deploy: Deploy) -> list[str]:
    """What is over budget at max replicas, naming the workers and how to fix it."""
    found = []
    db = deploy.database
    if db is not None and not db.ok:
        found.append(
            f"database: {db.used_at_max} connections at max replicas, over the budget of "
            f"{db.budget} (max_connections {db.max_connections} - reserved_connections "
            f"{db.reserved_connections}); by {_users(db)}. Lower `concurrency` or the max "
            "replicas of these services, raise the server's max_connections, or put a pooler "
            "such as PgBouncer (transaction mode) between the workers and the database"
        )
    if not deploy.redis.ok:
        redis = deploy.redis
        found.append(
            f"redis: {redis.used_at_max} connections at max replicas, over max_connections "
            f"{redis.max_connections}; by {_users(redis)}. Lower `concurrency` or the max "
            "replicas of these services, or raise Redis's maxclients and `redis.max_connections`"
        )
    return found


def _users(b: Budget) -> str:
    return ", ".join(f"{name} ({n})" for name, n in b.users)


def report(deploy: Deploy) -> dict[str, Any]:
    """The capacity plan as plain values (what `purista plan --json` prints)."""
    workers = []
    for w in deploy.workers:
        c = w.capacity
        workers.append(
            {
                "name": w.name,
                "kind": w.kind,
                "service": w.service,
                "version": w.version,
                "worker": w.kube_name,
                "command": list(w.args),
                "replicas": w.replicas,
                "max_replicas": w.max_replicas,
                "autoscale": None
                if w.autoscale is None
                else {
                    "min_replicas": w.autoscale.min_replicas,
                    "max_replicas": w.autoscale.max_replicas,
                    "target_queue_length": w.autoscale.target_queue_length,
                    "lists": list(w.lists),
                },
                "concurrency": w.concurrency,
                "pool": w.pool,
                "processes_per_instance": c.processes,
                "db_pool_per_process": c.db_pool_per_process,
                "db_connections_per_instance": c.db_connections_per_instance,
                "db_connections_at_max": c.db_connections_at_max,
                "redis_connections_per_process": c.redis_per_process,
                "redis_connections_consumer": c.redis_consumer,
                "redis_connections_per_instance": c.redis_connections_per_instance,
                "redis_per_instance_by_use": _redis_by_use(w),
                "redis_connections_at_max": c.redis_connections_at_max,
                "grace_period_seconds": w.grace_period,
            }
        )
    return {
        "workers": workers,
        "database": None if deploy.database is None else _budget(deploy.database),
        "redis": _budget(deploy.redis),
        "ok": deploy.ok,
        "problems": problems(deploy),
    }


def _redis_by_use(w: Worker) -> dict[str, int]:
    """An instance's Redis connections by what they are for (each slot runs one message)."""
    slots = w.concurrency  # prefork: C children x 1; threads and job workers: 1 process x C
    if w.kind == "scheduler":
        return {"broker": 1, "results": 0, "state_replies_and_jobs": 1, "invoke_waits": 0}
    if w.kind == "gateway":
        return {
            "broker": 1,
            "results": 0,
            "state_replies_and_jobs": GATEWAY_FIXED_CONNECTIONS - 1 + slots,
            "invoke_waits": slots,
        }
    if w.kind == "queue":
        return {
            "broker": slots,
            "results": 0,
            "state_replies_and_jobs": JOB_KEEPER_CONNECTIONS + slots,
            "invoke_waits": slots,
        }
    return {
        "broker": CELERY_CONSUMER_CONNECTIONS + slots,
        "results": slots,
        "state_replies_and_jobs": slots,
        "invoke_waits": slots,
    }


def _budget(b: Budget) -> dict[str, Any]:
    return {
        "max_connections": b.max_connections,
        "reserved_connections": b.reserved_connections,
        "budget": b.budget,
        "used_at_max": b.used_at_max,
        "ok": b.ok,
    }
