"""The double of a rendered `_purista/project.py`: two services, an event, a job queue,
schedules of each kind."""

from __future__ import annotations

from typing import Any

from purista.runtime.info import (
    CommandInfo,
    Field,
    GatewayInfo,
    HttpRoute,
    QueueInfo,
    Route,
    ScheduleInfo,
    ServiceInfo,
    Tracing,
    WorkerInfo,
)

PROJECT = "rtdouble"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_DATABASE_URL: str | None = None
TRACING = Tracing(exporter="none", endpoint="http://127.0.0.1:4317", sample_ratio=1.0)

SERVICES: dict[str, ServiceInfo] = {
    "greeter.v1": ServiceInfo(
        name="greeter",
        version=1,
        queue="rtdouble.greeter.v1",
        consumes=("rtdouble.greeter.v1", "rtdouble.greeter.v1.audit"),
        tasks_module="runtime_double.greeter",
        pool="threads",
        concurrency=4,
        state_ttl=60,
        uses_database=False,
    ),
    "shouter.v1": ServiceInfo(
        name="shouter",
        version=1,
        queue="rtdouble.shouter.v1",
        consumes=("rtdouble.shouter.v1", "rtdouble.shouter.v1.count"),
        tasks_module="runtime_double.shouter",
        pool="threads",
        concurrency=4,
        state_ttl=None,
        uses_database=False,
    ),
}

COMMANDS: dict[str, CommandInfo] = {
    "greeter.v1.greet": CommandInfo(
        task="greeter.v1.greet", queue="rtdouble.greeter.v1", timeout=3.0
    ),
    "shouter.v1.shout": CommandInfo(
        task="shouter.v1.shout", queue="rtdouble.shouter.v1", timeout=5.0
    ),
}

EVENT_ROUTES: dict[str, tuple[Route, ...]] = {
    "greeted": (
        Route(task="greeter.v1.audit", queue="rtdouble.greeter.v1.audit"),
        Route(task="shouter.v1.count", queue="rtdouble.shouter.v1.count"),
    ),
    "ignored": (),
}

QUEUES: dict[str, QueueInfo] = {
    "work": QueueInfo(
        name="work",
        service="greeter",
        version=1,
        max_attempts=3,
        backoff_initial=0.05,
        backoff_max=0.2,
        backoff_factor=2.0,
        backoff_jitter=0.0,
        lease=2.0,
        concurrency=2,
        schedule_batch_size=5,
        recovery_batch_size=5,
    ),
}


def _subscription(queue: str, service: str) -> QueueInfo:
    return QueueInfo(
        name=queue,
        service=service,
        version=1,
        max_attempts=3,
        backoff_initial=0.2,
        backoff_max=1.0,
        backoff_factor=2.0,
        backoff_jitter=0.0,
        lease=5.0,
        concurrency=4,
        schedule_batch_size=50,
        recovery_batch_size=5,
    )


SUBSCRIPTIONS: dict[str, QueueInfo] = {
    "rtdouble.greeter.v1.audit": _subscription("rtdouble.greeter.v1.audit", "greeter"),
    "rtdouble.shouter.v1.count": _subscription("rtdouble.shouter.v1.count", "shouter"),
}

EXAMPLES: dict[str, Any] = {
    "greeter.v1.greet": {"name": "example"},
    "shouter.v1.shout": {"text": "example"},
    "work": {"task": "ok"},
    "greeted": {"name": "example"},
    "ignored": None,
}

WORKERS: tuple[WorkerInfo, ...] = (
    WorkerInfo(name="rtdouble-greeter-v1", args=("worker", "greeter.v1"), grace_period=35),
    WorkerInfo(name="rtdouble-shouter-v1", args=("worker", "shouter.v1"), grace_period=35),
    WorkerInfo(name="rtdouble-work", args=("worker", "--queue", "work"), grace_period=32),
)

SCHEDULES: dict[str, ScheduleInfo] = {
    "greetEach": ScheduleInfo(
        name="greetEach",
        cron=None,
        every=1,
        timezone="UTC",
        kind="invoke",
        target="greeter.v1.greet",
        payload={"name": "scheduled"},
        missed="skip",
    ),
    "workEach": ScheduleInfo(
        name="workEach",
        cron=None,
        every=1,
        timezone="UTC",
        kind="enqueue",
        target="work",
        payload={"task": "ok"},
        missed="run_once",
    ),
    "workEachSkip": ScheduleInfo(
        name="workEachSkip",
        cron=None,
        every=1,
        timezone="UTC",
        kind="enqueue",
        target="work",
        payload={"task": "ok"},
        missed="skip",
    ),
    "greetedEach": ScheduleInfo(
        name="greetedEach",
        cron=None,
        every=1,
        timezone="UTC",
        kind="emit",
        target="greeted",
        payload={"name": "scheduled"},
        missed="skip",
    ),
    "nightly": ScheduleInfo(
        name="nightly",
        cron="30 2 * * *",
        every=None,
        timezone="Europe/Berlin",
        kind="emit",
        target="greeted",
        payload={"name": "nightly"},
        missed="skip",
    ),
}
ROUTES: tuple[HttpRoute, ...] = (
    HttpRoute(
        method="POST",
        path="/greet/{name}",
        kind="command",
        target="greeter.v1.greet",
        public=False,
        params=(Field("name", "string"),),
    ),
    HttpRoute(method="POST", path="/work", kind="queue", target="work", public=True),
)
GATEWAY = GatewayInfo(port=8080, concurrency=40, max_body=1024 * 1024)
