"""Load with faults: commands, events and jobs while Redis restarts twice and workers die.

1,000 commands (`shouter.v1.shout`), 1,000 events to two subscriptions and 1,000 jobs
are sent over about ten seconds; meanwhile Redis (AOF on) restarts twice and one
service worker and one job worker are SIGKILLed and replaced. Afterwards every
command answered or failed at its caller with a clear error, every job succeeded or
is dead, and every event ran at least once per subscription (or waits in its
dead-letter list) but for at most one per Celery worker and Redis restart or kill:
the read kombu's Redis transport had outstanding then (see the README's delivery
guarantees). The counts are printed (`pytest -s tests/faults/test_load.py`).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
from faults.harness import Server, Workers, calls
from purista.runtime import errors
from purista.runtime.app import get_bridge, get_jobs
from purista.runtime.context import Message
from purista.runtime.project import COMMANDS, QUEUES, SUBSCRIPTIONS
from runtime_double.models import ShoutOutput
from support import wait_for

pytestmark = pytest.mark.faults

N = 1000
HANDLERS = ("audit", "count")
RESTARTS = 2  # of Redis
CELERY_WORKERS = 2  # alive at each restart: a greeter and a shouter
KILLED_CELERY_WORKERS = 1
SHOUT = COMMANDS["shouter.v1.shout"]
WORK = QUEUES["work"]
VISIBILITY = 8.0


@dataclass
class Commands:
    """What the callers of the commands saw."""

    answered: int = 0
    wrong: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    late: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def invoke(i: int, seen: Commands) -> None:
    started = time.monotonic()
    try:
        out = get_bridge().invoke(SHOUT, {"text": f"c{i}"}, ShoutOutput, Message.first())
    except errors.InvokeTimeout as exc:
        kind = "not sent" if "could not send" in str(exc) else "no answer in time"
        outcome = f"InvokeTimeout ({kind})"
    except Exception as exc:  # noqa: BLE001  (counted by type: any other is a finding)
        outcome = type(exc).__name__
    else:
        outcome = "ok" if out.text == f"C{i}" else "wrong"
    late = time.monotonic() - started > SHOUT.timeout + 1.0
    with seen.lock:
        seen.late += late
        if outcome == "ok":
            seen.answered += 1
        elif outcome == "wrong":
            seen.wrong += 1
        else:
            seen.failed[outcome] += 1


def send(what: str, i: int) -> None:
    """Emit event `e<i>`, or enqueue job `j<i>`, trying again while Redis is away."""
    for _ in range(100):
        try:
            if what == "event":
                get_bridge().emit("greeted", {"name": f"e{i}"}, Message.first())
            else:
                get_jobs().enqueue(WORK, {"task": f"j{i}"}, Message.first().to_header())
            return
        except Exception:  # noqa: BLE001  (Redis restarting: the producer tries again)
            time.sleep(0.1)
    raise AssertionError(f"could not send {what} {i}")


def tally(server: Server, seen: Commands, job_ids: dict[str, str]) -> dict[str, Any]:
    """What became of every command, event and job."""
    store = get_jobs()
    figures: dict[str, Any] = {"events": {}}
    figures["commands"] = {
        "sent": N,
        "answered": seen.answered,
        "failed at the caller": dict(seen.failed),
        "wrong answers": seen.wrong,
        "past their deadline + 1 s": seen.late,
    }
    for handler, queue in (
        ("audit", SUBSCRIPTIONS["rtdouble.greeter.v1.audit"]),
        ("count", SUBSCRIPTIONS["rtdouble.shouter.v1.count"]),
    ):
        runs = Counter(c["name"] for c in calls(server, handler) if c["name"].startswith("e"))
        figures["events"][handler] = {
            "sent": N,
            "handled": len(runs),
            "duplicated": sum(runs.values()) - len(runs),
            "dead": store.stats(queue)["dead_letters"],
            "lost": N - len(runs) - store.stats(queue)["dead_letters"],
            "missing": sorted(f"e{i}" for i in range(N) if f"e{i}" not in runs)[:5],
            "still waiting": server.client().llen(queue.name),
        }
    figures["events"]["unacknowledged in Redis"] = server.client().hlen("unacked")
    runs = Counter(c["task"] for c in calls(server, "work"))
    records = [store.get(j) for j in set(job_ids.values())]
    figures["jobs"] = {
        "sent": N,
        "succeeded": sum(1 for r in records if r and r["status"] == "succeeded"),
        "dead": sum(1 for r in records if r and r["status"] == "dead"),
        "run more than once": sum(1 for n in runs.values() if n > 1),
    }
    return figures


def check(figures: dict[str, Any]) -> None:
    """Nothing lost: each command answered or failed clearly, in time; events and jobs done."""
    commands: dict[str, Any] = figures["commands"]
    assert commands["answered"] + sum(commands["failed at the caller"].values()) == N
    assert set(commands["failed at the caller"]) <= {
        "InvokeTimeout (not sent)",
        "InvokeTimeout (no answer in time)",
    }
    assert commands["wrong answers"] == 0
    assert commands["past their deadline + 1 s"] == 0
    # Each Celery worker has one BRPOP outstanding: a message Redis hands it as Redis stops
    # (the reply never arrives) or as the worker is SIGKILLed (not yet recorded as
    # unacknowledged) is lost with that one read, a limit of kombu's Redis transport.
    at_risk = RESTARTS * CELERY_WORKERS + KILLED_CELERY_WORKERS
    lost = sum(N - c["handled"] - c["dead"] for c in (figures["events"][h] for h in HANDLERS))
    assert lost <= at_risk, figures["events"]
    assert figures["jobs"]["succeeded"] + figures["jobs"]["dead"] == N


def test_nothing_is_lost_under_load_while_redis_restarts_and_workers_die(
    server: Server, workers: Workers
) -> None:
    env = {"PURISTA_VISIBILITY_TIMEOUT": str(VISIBILITY)}
    greeters = [workers.start("greeter", "--pool", "threads", "--concurrency", "8", **env)]
    shouters = [workers.start("shouter", "--pool", "threads", "--concurrency", "8", **env)]
    jobbers = [workers.start("--queue", "work", "--concurrency", "4", **env) for _ in range(2)]
    for worker in greeters + shouters + jobbers:
        workers.ready(worker)

    seen = Commands()
    faults: list[str] = []
    killed: list[float] = []

    def inject() -> None:
        time.sleep(3)
        server.restart(down=1.0)
        faults.append("Redis restarted")
        time.sleep(1.5)
        os.killpg(greeters[0].pid, signal.SIGKILL)
        os.killpg(jobbers[0].pid, signal.SIGKILL)
        killed.append(time.monotonic())
        faults.append("a service worker and a job worker SIGKILLed")
        greeters.append(workers.start("greeter", "--pool", "threads", "--concurrency", "8", **env))
        jobbers.append(workers.start("--queue", "work", "--concurrency", "4", **env))
        time.sleep(2.5)
        server.restart(down=1.0)
        faults.append("Redis restarted")

    injector = threading.Thread(target=inject)
    started = time.monotonic()
    injector.start()
    with ThreadPoolExecutor(16) as pool:
        for i in range(N):
            pool.submit(invoke, i, seen)
            pool.submit(send, "event", i)
            pool.submit(send, "job", i)
            time.sleep(max(0.0, started + i * 0.01 - time.monotonic()))  # about 10 s
    injector.join()
    sent_for = time.monotonic() - started

    store = get_jobs()

    def settled() -> bool:
        job_ids = {c["task"]: c["id"] for c in calls(server, "work")}
        audit = {n for n in (c["name"] for c in calls(server, "audit")) if n.startswith("e")}
        count = {n for n in (c["name"] for c in calls(server, "count")) if n.startswith("e")}
        jobs_done = sum(
            1
            for r in (store.get(j) for j in set(job_ids.values()))
            if r and r["status"] in ("succeeded", "dead")
        )
        return len(audit) == len(count) == N and len(job_ids) == N and jobs_done == N

    wait_for(settled, VISIBILITY + 10 + 30, 1.0)
    # Deliveries lost with the killed worker come back within the visibility timeout and a
    # sweep of the unacked index: count them too.
    time.sleep(max(0.0, killed[0] + VISIBILITY + 10 + 1 - time.monotonic()))
    job_ids = {c["task"]: c["id"] for c in calls(server, "work")}

    figures = tally(server, seen, job_ids)
    print(f"\nload with faults ({sent_for:.1f} s of sending; {'; '.join(faults)}):")
    print(json.dumps(figures, indent=2))

    check(figures)
