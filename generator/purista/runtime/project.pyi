"""The interface of `project.py`, the module `purista generate` renders from each spec.

Its template is `templates/project/src/{package}/_purista/project.py.jinja`; the
tests give the runtime a small double of it (`tests/runtime_double/project.py`).
"""

from typing import Any

from .info import (
    CommandInfo,
    GatewayInfo,
    HttpRoute,
    QueueInfo,
    Route,
    ScheduleInfo,
    ServiceInfo,
    Tracing,
    WorkerInfo,
)

PROJECT: str
DEFAULT_REDIS_URL: str
DEFAULT_DATABASE_URL: str | None
TRACING: Tracing
SERVICES: dict[str, ServiceInfo]
COMMANDS: dict[str, CommandInfo]
EVENT_ROUTES: dict[str, tuple[Route, ...]]
QUEUES: dict[str, QueueInfo]
SUBSCRIPTIONS: dict[str, QueueInfo]
WORKERS: tuple[WorkerInfo, ...]
EXAMPLES: dict[str, Any]
SCHEDULES: dict[str, ScheduleInfo]
ROUTES: tuple[HttpRoute, ...]
GATEWAY: GatewayInfo
