"""Real Celery workers on threads of the test process, for the runtime's tests: the app of
the runtime with the double's tasks registered (see `tests/runtime_double`)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Celery
from celery.concurrency.thread import TaskPool as ThreadPool
from celery.contrib.testing.worker import start_worker
from celery.signals import setup_logging
from celery.worker import WorkController
from purista.runtime.app import get_app, register
from purista.runtime.runner import service_bindings

BINDINGS = service_bindings("greeter.v1") + service_bindings("shouter.v1")


def registered() -> Celery:
    """This process's app with the double's tasks, registered once per process as in a worker."""
    app = get_app()
    register(app, [b for b in BINDINGS if b.task not in app.tasks])
    return app


def _leave_logging_alone(**_: Any) -> None:
    """Keep Celery from reconfiguring the root logger of the test process."""


@contextmanager
def worker(*queues: str, pool: str = "solo", concurrency: int = 1) -> Iterator[WorkController]:
    """A Celery worker on a thread of this process, consuming `queues`; stopped on exit."""
    app = registered()
    threads = set(threading.enumerate())
    setup_logging.connect(_leave_logging_alone)
    running: WorkController | None = None
    try:
        with start_worker(
            app,
            pool=pool,
            concurrency=concurrency,
            perform_ping_check=False,
            queues=list(queues),
        ) as running:
            yield running
    finally:
        setup_logging.disconnect(_leave_logging_alone)
        if running is not None and isinstance(running.pool, ThreadPool):
            running.pool.on_stop()  # a terminated worker leaves its threads to its caller
    assert set(threading.enumerate()) <= threads
