# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""The worker of a service: its commands and subscriptions, on Celery."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any, cast

from billiard.process import current_process
from celery import bootsteps
from celery.signals import (
    after_setup_logger,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_shutting_down,
)

from . import health, jobs, telemetry
from .app import HARD_LIMIT_GRACE, get_app, get_client, get_deliveries, register
from .bridge import Sender
from .info import ServiceInfo
from .project import COMMANDS, PROJECT, SERVICES, SUBSCRIPTIONS
from .runner import service_bindings
from .settings import Settings

logger = logging.getLogger(__name__)

#: Celery's loggers of every task received and done: they log at INFO, with the task's
#: result, so they are kept at WARNING unless the worker runs with `--loglevel DEBUG`.
PER_TASK_LOGGERS = ("celery.app.trace", "celery.worker.strategy", "celery.worker.request")


class _Loop:
    """What the heartbeat knows of the worker: is it connected, does its loop turn, its pool."""

    connected = False
    last_tick = time.monotonic()
    slots = 0  # threads of a threads (or solo) pool, whose handlers run in this process
    subscriptions: tuple[str, ...] = ()  # the subscription queues the worker consumes

    @classmethod
    def tick(cls) -> None:
        cls.last_tick = time.monotonic()


class Heartbeat(bootsteps.StartStopStep):
    """Beats the heartbeat file while the worker's event loop turns, or while it reconnects.

    The loop's own timer records each turn; a thread touches the file when the
    last turn is recent, or when the consumer is reconnecting to Redis (its loop
    does not turn then, and a restart would not help). A loop stuck while
    connected stops the beat, and so does a threads pool whose every slot runs a
    handler past its timeout (a thread cannot be stopped): the liveness probe
    restarts the worker.
    """

    requires = ("celery.worker.components:Timer",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.tref: Any = None
        self.stopped = threading.Event()

    def start(self, parent: Any) -> None:
        """Record loop turns on the worker's timer and start beating."""
        _Loop.tick()
        self.tref = parent.timer.call_repeatedly(health.HEARTBEAT_INTERVAL / 2, _Loop.tick)
        threading.Thread(target=self._beat, name="purista-heartbeat", daemon=True).start()

    def stop(self, parent: Any) -> None:
        """Stop beating: the worker is going away."""
        self.stopped.set()
        health.set_ready(False)
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None

    def _beat(self) -> None:
        wedged = False
        while True:
            stale = time.monotonic() - _Loop.last_tick > 3 * health.HEARTBEAT_INTERVAL
            stuck = _Loop.slots > 0 and health.stuck() >= _Loop.slots
            if stuck and not wedged:
                logger.error("every slot runs a handler past its timeout; liveness fails")
            wedged = stuck
            if not (_Loop.connected and stale) and not stuck:
                health.beat()
            if self.stopped.wait(health.HEARTBEAT_INTERVAL / 2):
                return


class Readiness(bootsteps.StartStopStep):
    """Ready while the consumer is connected and taking messages; not while it reconnects."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def start(self, parent: Any) -> None:
        """The consumer is connected: ready."""
        _Loop.connected = True
        health.set_ready(True)

    def stop(self, parent: Any) -> None:
        """The consumer stopped or lost Redis: not ready."""
        _Loop.connected = False
        health.set_ready(False)

    def shutdown(self, parent: Any) -> None:
        """The worker is shutting down: not ready."""
        self.stop(parent)


class Retries(bootsteps.StartStopStep):
    """Sends the events of this worker's subscriptions that are due for another attempt.

    Runs in the worker's main process; any worker of a subscription sends its due
    events, each once (they are leased while being sent).
    """

    POLL = 0.5

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.stopped = threading.Event()
        self.subscriptions = [SUBSCRIPTIONS[q] for q in _Loop.subscriptions]

    def start(self, parent: Any) -> None:
        """Start polling, if this worker has subscriptions."""
        if self.subscriptions:
            threading.Thread(target=self._run, name="purista-retries", daemon=True).start()

    def stop(self, parent: Any) -> None:
        """Stop polling."""
        self.stopped.set()

    def _run(self) -> None:
        deliveries, sender, down = get_deliveries(), Sender(get_app()), False
        while not self.stopped.wait(self.POLL):
            try:
                for subscription in self.subscriptions:
                    for event in deliveries.take(subscription):
                        header = {**event.header, "attempt": event.attempt + 1}
                        sender.send(
                            event.task,
                            event.payload,
                            subscription.name,
                            header,
                            task_id=event.id,
                            deadline=time.monotonic() + 5,
                        )
                        deliveries.sent(subscription, event)
                down = False
            except Exception as exc:  # noqa: BLE001  (the thread must go on: log and retry)
                if not down:
                    logger.warning("could not send due retries of events (%s); retrying", exc)
                down = True


def run_worker(
    service: str, *, concurrency: int | None = None, pool: str | None = None, loglevel: str = "INFO"
) -> int:
    """Consume the queues of `service` (a `<service>.v<N>`) until stopped.

    SIGTERM lets running tasks finish first.

    Returns the worker's exit code: 0 after a clean stop, 1 when it crashed.
    """
    info = SERVICES[service]
    pool = pool or os.environ.get("PURISTA_POOL") or info.pool
    concurrency = concurrency or int(os.environ.get("PURISTA_CONCURRENCY", info.concurrency))
    health.set_ready(False)
    _Loop.slots = concurrency if pool in ("threads", "solo") else 0
    _Loop.subscriptions = info.consumes[1:]
    app = get_app()
    app.steps["worker"].add(Heartbeat)
    app.steps["worker"].add(Retries)
    app.steps["consumer"].add(Readiness)
    worker_shutting_down.connect(_not_ready, weak=False)
    if pool in ("threads", "solo"):
        worker_shutting_down.connect(_watch_shutdown(service), weak=False)
    if info.uses_database:
        _open_database(pool, concurrency, f"{PROJECT}.{info.key}")
    register(app, service_bindings(service))
    telemetry.install_log_ids()
    app.conf.worker_log_format = telemetry.LOG_FORMAT
    app.conf.worker_task_log_format = telemetry.LOG_FORMAT
    if loglevel.upper() != "DEBUG":
        after_setup_logger.connect(_quiet_per_task_logs, weak=False)

    # Telemetry starts after the fork in each prefork child, or once in a worker without children.
    name = telemetry.worker_name(("worker", service))

    def in_child(**_: object) -> None:
        index = getattr(current_process(), "index", 0)
        telemetry.setup(info.name, worker=name, index=index)
        if index == 0:
            observe_backlog(info)

    def in_worker(**_: object) -> None:
        if pool != "prefork":
            telemetry.setup(info.name, worker=name)
            observe_backlog(info)

    if pool == "prefork" and "prometheus" in telemetry.metric_exporters():
        from . import metrics  # the main process serves what its children write

        metrics.gather(name)
    worker_process_init.connect(in_child, weak=False)
    # A prefork child leaves with os._exit: export what it still holds first.
    worker_process_shutdown.connect(lambda **_: telemetry.shutdown(), weak=False)
    worker_init.connect(in_worker, weak=False)
    # The threads pool is purista's (see `pool`): it wakes the worker's loop when a slot frees.
    worker = app.Worker(
        hostname=f"{info.key}.{os.getpid()}@{socket.gethostname()}",
        queues=list(info.consumes),
        pool_cls=f"{__package__}.pool:ThreadsPool" if pool == "threads" else pool,
        concurrency=concurrency,
        loglevel=loglevel,
        without_gossip=True,
        without_mingle=True,
        without_heartbeat=True,
    )
    worker.start()
    # Celery's own command line drops this code (`worker_main`): a crash exited 0.
    return int(worker.exitcode or 0)


def observe_backlog(info: ServiceInfo) -> None:
    """Report what waits in the service's queues: commands, events, events' dead letters.

    Read from Redis when the metrics are collected (every export or scrape), never per
    message; every instance of the service reports the same figures.
    """
    client = get_client()
    subscriptions = info.consumes[1:]

    def depth() -> dict[str, float]:
        return {info.queue: float(cast(int, client.llen(info.queue)))}

    telemetry.observe(
        "purista.command.queue.depth",
        "Commands waiting in the service's queue (the broker backlog)",
        "{message}",
        depth,
        "purista.command.queue",
    )
    if not subscriptions:
        return

    def lag() -> dict[str, float]:
        with client.pipeline(transaction=False) as pipe:
            for queue in subscriptions:
                pipe.llen(queue)
            return dict(zip(subscriptions, pipe.execute(), strict=True))

    def dead() -> dict[str, float]:
        with client.pipeline(transaction=False) as pipe:
            for queue in subscriptions:
                pipe.llen(jobs.keys(queue)["dead"])
            return dict(zip(subscriptions, pipe.execute(), strict=True))

    telemetry.observe(
        "purista.subscription.lag",
        "Events waiting for a subscription",
        "{message}",
        lag,
        "purista.subscription.queue",
    )
    telemetry.observe(
        "purista.subscription.dead_letters",
        "Events in a subscription's dead-letter list",
        "{message}",
        dead,
        "purista.subscription.queue",
    )


def _quiet_per_task_logs(**_: Any) -> None:
    for name in PER_TASK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def _not_ready(**_: Any) -> None:
    health.set_ready(False)


def _watch_shutdown(service: str) -> Any:
    """After a stop began, end a threads worker whose handlers outlive their timeouts.

    A thread cannot be stopped, so a hung handler would hold a warm shutdown for
    ever: past the longest timeout of the service, the process exits with 1.
    """
    info = SERVICES[service]
    timeouts = [c.timeout for c in COMMANDS.values() if c.queue == info.queue]
    timeouts += [SUBSCRIPTIONS[q].lease for q in info.consumes[1:]]
    limit = max(timeouts, default=0.0) + HARD_LIMIT_GRACE

    def watch(**_: Any) -> None:
        def give_up() -> None:
            logger.critical("handlers still run %.0f s after the stop began; exiting", limit)
            logging.shutdown()
            os._exit(1)

        timer = threading.Timer(limit, give_up)
        timer.daemon = True
        timer.start()

    return watch


def _open_database(pool: str, concurrency: int, name: str) -> None:
    """Size the database pool from the plan's numbers; open it after fork, or here for threads.

    `database` is imported here: it needs psycopg, which only a project whose
    services use a database depends on.
    """
    from . import database

    database.configure(database.pool_size(pool, concurrency, Settings.from_env()), name)
    database.observe_pool()
    if pool == "prefork":
        worker_process_init.connect(lambda **_: database.get_pool(), weak=False)
        worker_process_shutdown.connect(lambda **_: database.close_pool(), weak=False)
    else:
        database.get_pool()
