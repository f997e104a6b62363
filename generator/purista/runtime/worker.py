# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""Workers: a service's commands and subscriptions on Celery, or one job queue."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from dataclasses import replace
from types import FrameType
from typing import Any

from billiard.process import current_process
from celery import bootsteps
from celery.signals import (
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_shutting_down,
)
from opentelemetry.context import attach, detach

from . import health, telemetry
from .app import get_app, get_bridge, get_client, get_jobs, register, states_for
from .context import Message
from .errors import InvalidPayload
from .info import QueueInfo
from .jobs import Claimed, JobStore
from .project import PROJECT, QUEUES, SERVICES
from .runner import Binding, execute, job_binding, service_bindings
from .settings import Settings

logger = logging.getLogger(__name__)

LOG_FORMAT = (
    "[%(asctime)s: %(levelname)s/%(processName)s] "
    "[trace %(otelTraceID)s span %(otelSpanID)s] %(message)s"
)


class _Loop:
    """What the heartbeat knows of the worker: is it connected, and does its loop turn."""

    connected = False
    last_tick = time.monotonic()

    @classmethod
    def tick(cls) -> None:
        cls.last_tick = time.monotonic()


class Heartbeat(bootsteps.StartStopStep):
    """Beats the heartbeat file while the worker's event loop turns, or while it reconnects.

    The loop's own timer records each turn; a thread touches the file when the
    last turn is recent, or when the consumer is reconnecting to Redis (its loop
    does not turn then, and a restart would not help). A loop stuck while
    connected stops the beat, and the liveness probe restarts the worker.
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
        while True:
            stale = time.monotonic() - _Loop.last_tick > 3 * health.HEARTBEAT_INTERVAL
            if not (_Loop.connected and stale):
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


def run_worker(
    service: str, *, concurrency: int | None = None, pool: str | None = None, loglevel: str = "INFO"
) -> None:
    """Consume `service`'s queues until stopped (SIGTERM finishes running tasks first)."""
    info = SERVICES[service]
    pool = pool or os.environ.get("PURISTA_POOL") or info.pool
    concurrency = concurrency or int(os.environ.get("PURISTA_CONCURRENCY", info.concurrency))
    health.set_ready(False)
    app = get_app()
    app.steps["worker"].add(Heartbeat)
    app.steps["consumer"].add(Readiness)
    worker_shutting_down.connect(_not_ready, weak=False)
    if info.uses_database:
        _open_database(pool, concurrency, f"{PROJECT}.{service}.v{info.version}")
    register(app, service_bindings(service))
    telemetry.install_log_ids()
    app.conf.worker_log_format = LOG_FORMAT
    app.conf.worker_task_log_format = LOG_FORMAT

    # Telemetry starts after the fork in each prefork child, or once in a worker without children.
    def in_child(**_: object) -> None:
        index = getattr(current_process(), "index", 0)
        telemetry.setup(service, index=index)
        if index == 0:
            observe_subscriptions(info.consumes[1:])

    def in_worker(**_: object) -> None:
        if pool != "prefork":
            telemetry.setup(service)
            observe_subscriptions(info.consumes[1:])

    worker_process_init.connect(in_child, weak=False)
    # A prefork child leaves with os._exit: export what it still holds first.
    worker_process_shutdown.connect(lambda **_: telemetry.shutdown(), weak=False)
    worker_init.connect(in_worker, weak=False)
    app.worker_main(
        [
            "worker",
            "--queues",
            ",".join(info.consumes),
            "--pool",
            pool,
            "--concurrency",
            str(concurrency),
            "--hostname",
            f"{service}.v{info.version}.{os.getpid()}@{socket.gethostname()}",
            "--loglevel",
            loglevel,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )


def observe_subscriptions(queues: tuple[str, ...]) -> None:
    """Report how many events wait in each subscription queue (consumer lag)."""
    if not queues:
        return
    client = get_client()

    def lag() -> dict[str, float]:
        with client.pipeline(transaction=False) as pipe:
            for queue in queues:
                pipe.llen(queue)
            return dict(zip(queues, pipe.execute(), strict=True))

    telemetry.observe(
        "purista.subscription.lag",
        "Events waiting for a subscription",
        "{message}",
        lag,
        "purista.subscription.queue",
    )


def observe_queue(store: JobStore, queue: QueueInfo) -> None:
    """Report a job queue's depth, scheduled and in-flight jobs, dead letters and oldest age."""
    for figure, description, unit in (
        ("pending", "Jobs waiting to run", "{job}"),
        ("scheduled", "Jobs waiting for their delay or their next attempt", "{job}"),
        ("in_flight", "Jobs running under a lease", "{job}"),
        ("dead_letters", "Jobs in the dead-letter list", "{job}"),
        ("oldest_age", "Age of the oldest pending job", "s"),
    ):

        def read(figure: str = figure) -> dict[str, float]:
            value = store.stats(queue)[figure]
            return {} if value is None else {queue.name: float(value)}

        telemetry.observe(f"purista.queue.{figure}", description, unit, read, "purista.queue")


def _not_ready(**_: Any) -> None:
    health.set_ready(False)


def _open_database(pool: str, concurrency: int, name: str) -> None:
    """Size the database pool from the plan's numbers; open it after fork, or here for threads.

    `database` is imported here: it needs psycopg, which only a project whose
    services use a database depends on.
    """
    from . import database

    database.configure(database.pool_size(pool, concurrency, Settings.from_env()), name)
    if pool == "prefork":
        worker_process_init.connect(lambda **_: database.get_pool(), weak=False)
        worker_process_shutdown.connect(lambda **_: database.close_pool(), weak=False)
    else:
        database.get_pool()


def run_job_worker(queue: str, *, concurrency: int | None = None, loglevel: str = "INFO") -> None:
    """Run the jobs of `queue` on `concurrency` threads until SIGTERM or SIGINT."""
    telemetry.install_log_ids()
    logging.basicConfig(
        level=loglevel.upper(), format=LOG_FORMAT.replace("processName", "threadName")
    )
    telemetry.setup(queue)
    health.set_ready(False)
    info = QUEUES[queue]
    binding = job_binding(queue)
    threads = concurrency or int(os.environ.get("PURISTA_CONCURRENCY", info.concurrency))
    if SERVICES[info.service].uses_database:
        _open_database("threads", threads, f"{PROJECT}.jobs.{queue}")
    store = get_jobs()
    observe_queue(store, info)
    JobWorker(info, binding, store, threads).run()


class JobWorker:
    """Threads that lease and run jobs, and one that renews leases, promotes and recovers.

    The lease of every running job is renewed every third of the queue's lease, so
    a job may outlive its lease while this process lives; when the process dies,
    another worker runs the job again once the lease has expired. Due delayed jobs
    and jobs with expired leases are moved by whichever worker polls first, in
    batches of `schedule_batch_size` and `recovery_batch_size` per script call.
    """

    IDLE_MIN = 0.005
    IDLE_MAX = 0.2

    def __init__(
        self,
        queue: QueueInfo,
        binding: Binding,
        store: JobStore,
        concurrency: int,
        poll: float = 0.5,
    ) -> None:
        self.queue = queue
        self.binding = binding
        self.store = store
        self.concurrency = concurrency
        self.poll = min(poll, queue.lease / 3)
        self.stopping = threading.Event()
        self.done = threading.Event()
        self.running: dict[str, Claimed] = {}
        self.lock = threading.Lock()

    def run(self) -> None:
        """Work until SIGTERM or SIGINT, then let running jobs finish."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._stop)
        workers = [
            threading.Thread(target=self._work, name=f"{self.queue.name}-{i}", daemon=True)
            for i in range(self.concurrency)
        ]
        keeper = threading.Thread(target=self._keep, name=f"{self.queue.name}-keeper", daemon=True)
        logger.info("worker for job queue %s: %d threads", self.queue.name, self.concurrency)
        keeper.start()
        for thread in workers:
            thread.start()
        health.set_ready(True)
        for thread in workers:
            while thread.is_alive():
                thread.join(0.5)
        self.done.set()
        keeper.join(self.poll * 2)
        logger.info("worker for job queue %s stopped", self.queue.name)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        logger.info("stopping: running jobs finish, no new ones start")
        health.set_ready(False)
        self.stopping.set()

    def _work(self) -> None:
        idle = self.IDLE_MIN
        while not self.stopping.is_set():
            try:
                job = self.store.claim(self.queue)
            except Exception:
                logger.exception("could not lease a job; retrying")
                self.stopping.wait(1)
                continue
            if job is None:
                self.stopping.wait(idle)
                idle = min(idle * 2, self.IDLE_MAX)
                continue
            idle = self.IDLE_MIN
            self._run(job)

    def _run(self, job: Claimed) -> None:
        with self.lock:
            self.running[job.id] = job
        # A job is a message of its own: its id is the job's; trace, principal and tenant carry on.
        message = replace(Message.from_header(job.message, job.id), message_id=job.id)
        token = attach(telemetry.extract(job.message.get("trace_context")))
        try:
            result = execute(
                self.binding,
                job.payload,
                message,
                get_bridge(),
                states_for(self.queue.service),
                job=(job.id, job.attempt),
            )
        except Exception as exc:  # noqa: BLE001  (any failure is recorded on the job)
            final = isinstance(exc, InvalidPayload)
            outcome = self.store.fail(self.queue, job, f"{type(exc).__name__}: {exc}", final=final)
            logger.warning(
                "job %s attempt %d of %d failed (%s): %s: %s",
                job.id,
                job.attempt,
                self.queue.max_attempts,
                outcome,
                type(exc).__name__,
                exc,
            )
        else:
            if not self.store.succeed(self.queue, job, result):
                logger.warning(
                    "job %s finished after its lease was taken over; result dropped", job.id
                )
        finally:
            detach(token)
            with self.lock:
                self.running.pop(job.id, None)

    def _keep(self) -> None:
        """Renew leases, promote and recover; beat the heartbeat whether or not Redis answers."""
        last_beat = 0.0
        while not self.done.wait(self.poll):
            if time.monotonic() - last_beat >= health.HEARTBEAT_INTERVAL / 2:
                health.beat()
                last_beat = time.monotonic()
            try:
                with self.lock:
                    running = list(self.running.values())
                for job in running:
                    if not self.store.heartbeat(self.queue, job):
                        logger.warning("job %s lost its lease", job.id)
                if not self.stopping.is_set():
                    self.store.promote(self.queue)
                    self.store.recover(self.queue)
            except Exception:
                logger.exception("lease renewal or promotion failed; retrying")
