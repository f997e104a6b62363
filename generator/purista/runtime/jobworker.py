# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""The worker of a job queue: threads that lease and run jobs, and a keeper of their leases."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from types import FrameType
from typing import Any, TypeVar, cast

import redis
from opentelemetry.context import attach, detach

from . import bench, health, telemetry
from .app import get_bridge, get_jobs, states_for
from .context import Message
from .errors import InvalidPayload
from .info import QueueInfo
from .jobs import Claimed, JobStore
from .project import PROJECT, QUEUES, SERVICES
from .runner import Binding, execute, job_binding
from .settings import Settings

logger = logging.getLogger(__name__)

T = TypeVar("T")


def run_job_worker(queue: str, *, concurrency: int | None = None, loglevel: str = "INFO") -> int:
    """Run the jobs of `queue` on `concurrency` threads until SIGTERM or SIGINT; the exit code."""
    telemetry.install_log_ids()
    logging.basicConfig(
        level=loglevel.upper(), format=telemetry.LOG_FORMAT.replace("processName", "threadName")
    )
    telemetry.setup(queue, worker=telemetry.worker_name(("worker", "--queue", queue)))
    health.set_ready(False)
    info = QUEUES[queue]
    binding = job_binding(queue)
    threads = concurrency or int(os.environ.get("PURISTA_CONCURRENCY", info.concurrency))
    if SERVICES[info.service_key].uses_database:
        from . import database  # needs psycopg: only where a service uses the database

        database.configure(
            database.pool_size("threads", threads, Settings.from_env()), f"{PROJECT}.jobs.{queue}"
        )
        database.get_pool()
        database.observe_pool()
    store = get_jobs()
    observe_queue(store, info)
    return JobWorker(info, binding, store, threads).serve()


def observe_queue(store: JobStore, queue: QueueInfo) -> None:
    """Report a job queue's depth, scheduled and in-flight jobs, dead letters and oldest age.

    One read of the queue's figures serves every gauge of one collection.
    """
    latest: dict[str, Any] = {"at": -1.0, "figures": {}}

    def figures() -> dict[str, Any]:
        now = time.monotonic()
        if now - latest["at"] > 1.0:
            latest["figures"], latest["at"] = store.stats(queue), now
        return cast(dict[str, Any], latest["figures"])

    for figure, description, unit in (
        ("pending", "Jobs waiting to run", "{job}"),
        ("scheduled", "Jobs waiting for their delay or their next attempt", "{job}"),
        ("in_flight", "Jobs running under a lease", "{job}"),
        ("dead_letters", "Jobs in the dead-letter list", "{job}"),
        ("oldest_age", "Age of the oldest pending job", "s"),
    ):

        def read(figure: str = figure) -> dict[str, float]:
            value = figures()[figure]  # no pending job: the oldest is 0 s old
            return {queue.name: float(value or 0)}

        telemetry.observe(f"purista.queue.{figure}", description, unit, read, "purista.queue")


@dataclass
class _Lease:
    """A running job, when its lease was last renewed (monotonic), and whether it was lost."""

    job: Claimed
    renewed: float
    lost: bool = False


class _Outage:
    """Logs that Redis cannot be reached once when it starts and once when it ends."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.since: float | None = None

    def failed(self, what: str, exc: Exception) -> None:
        with self.lock:
            if self.since is None:
                self.since = time.monotonic()
                logger.warning("Redis cannot be reached (%s: %s); retrying", what, exc)

    def ok(self) -> None:
        with self.lock:
            if self.since is not None:
                logger.warning("Redis is back after %.1f s", time.monotonic() - self.since)
                self.since = None


class JobWorker:
    """Threads that lease and run jobs, and one that renews leases, promotes and recovers.

    The lease of every running job is renewed every third of the queue's lease, so
    a job may outlive its lease while this process lives; when the process dies,
    another worker runs the job again once the lease has expired. Due delayed jobs
    and jobs with expired leases are moved by whichever worker polls first, in
    batches of `schedule_batch_size` and `recovery_batch_size` per script call.

    Every Redis call is retried while Redis cannot be reached: a claim until it
    works, a job's outcome until it is recorded or the job's lease has run out
    (then another worker runs the job again). A thread that stops on an error it
    did not expect stops the worker: the heartbeat ends and `run` returns 1.
    """

    IDLE_WAIT = 1  # seconds an idle thread blocks on its queue before it looks at stopping
    RETRY_MIN = 0.05
    RETRY_MAX = 2.0

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
        self.poll = min(poll, queue.lease / 6)
        self.stopping = threading.Event()
        self.crashed = threading.Event()
        self.done = threading.Event()
        self.leases: dict[str, _Lease] = {}
        self.lock = threading.Lock()
        self.outage = _Outage()
        self.labels = {"purista.queue": queue.name}

    def serve(self) -> int:
        """`run` with SIGTERM and SIGINT stopping it (from the main thread)."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        return self.run()

    def run(self) -> int:
        """Work until stopped, then let running jobs finish; 0, or 1 when a thread crashed."""
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
        if self.crashed.is_set():
            logger.critical("worker for job queue %s stopped after a crash", self.queue.name)
            return 1
        logger.info("worker for job queue %s stopped", self.queue.name)
        return 0

    def stop(self) -> None:
        """Take no new jobs; the running ones finish."""
        health.set_ready(False)
        self.stopping.set()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        logger.info("stopping: running jobs finish, no new ones start")
        self.stop()

    def _work(self) -> None:
        try:
            self._loop()
        except BaseException:
            logger.critical("thread %s crashed; the worker stops", threading.current_thread().name)
            logger.exception("the crash")
            self.crashed.set()
            self.stop()

    def _loop(self) -> None:
        pause = self.RETRY_MIN
        while not self.stopping.is_set():
            try:
                job = self.store.claim(self.queue)
                if job is None:  # idle: wake as soon as a job is pending
                    self.store.wait(self.queue, self.IDLE_WAIT)
            except redis.RedisError as exc:
                self.outage.failed("leasing a job", exc)
                self.stopping.wait(pause)
                pause = min(pause * 2, self.RETRY_MAX)
                continue
            self.outage.ok()
            pause = self.RETRY_MIN
            if job is not None:
                self._run(job)

    def _run(self, job: Claimed) -> None:
        telemetry.record_wait(self.labels, job.waited)
        lease = _Lease(job, time.monotonic())
        with self.lock:
            self.leases[job.id] = lease
        # A job is a message of its own: its id is the job's; trace, principal and tenant carry on.
        message = replace(Message.from_header(job.message, job.id), message_id=job.id)
        token = attach(telemetry.extract(job.message.get("trace_context")))
        started = time.perf_counter()
        try:
            try:
                result = execute(
                    self.binding,
                    job.payload,
                    message,
                    get_bridge(),
                    states_for(self.queue.service_key),
                    job=(job.id, job.attempt),
                )
            except Exception as exc:  # noqa: BLE001  (any failure is recorded on the job)
                bench.note(job.message, self.queue.name, started, False, lambda: self.store.client)
                self._failed(lease, exc)
            else:
                bench.note(job.message, self.queue.name, started, True, lambda: self.store.client)
                self._succeeded(lease, result)
        finally:
            detach(token)
            with self.lock:
                self.leases.pop(job.id, None)

    def _failed(self, lease: _Lease, exc: Exception) -> None:
        job = lease.job
        error = f"{type(exc).__name__}: {exc}"
        final = isinstance(exc, InvalidPayload)
        outcome = self._until_lost(
            lease, lambda: self.store.fail(self.queue, job, error, final=final)
        )
        logger.warning(
            "job %s attempt %d of %d failed (%s): %s",
            job.id,
            job.attempt,
            self.queue.max_attempts,
            outcome or "not recorded",
            error,
        )

    def _succeeded(self, lease: _Lease, result: Any) -> None:
        job = lease.job
        if self._until_lost(lease, lambda: self.store.succeed(self.queue, job, result)) is False:
            # Either another worker took the job over, or an earlier try of this call
            # worked and only its answer was lost.
            record = self._until_lost(lease, lambda: self.store.get(job.id)) or {}
            if record.get("status") != "succeeded":
                logger.warning(
                    "job %s finished after its lease was taken over; result dropped", job.id
                )

    def _until_lost(self, lease: _Lease, call: Callable[[], T]) -> T | None:
        """`call()`, tried again while Redis cannot be reached, until the job's lease runs out."""
        pause = self.RETRY_MIN
        while True:
            try:
                answer = call()
            except redis.RedisError as exc:
                self.outage.failed(f"recording job {lease.job.id}", exc)
                if time.monotonic() + pause > lease.renewed + self.queue.lease:
                    logger.error(
                        "job %s: its outcome could not be recorded before its lease ran out; "
                        "another worker runs it again",
                        lease.job.id,
                    )
                    return None
                time.sleep(pause)
                pause = min(pause * 2, self.RETRY_MAX)
                continue
            self.outage.ok()
            return answer

    def _keep(self) -> None:
        """Renew leases, promote and recover; beat the heartbeat while every thread lives."""
        last_beat = 0.0
        while not self.done.wait(self.poll):
            now = time.monotonic()
            if not self.crashed.is_set() and now - last_beat >= health.HEARTBEAT_INTERVAL / 2:
                health.beat()
                last_beat = now
            self._renew(now)
            if self.stopping.is_set():
                continue
            try:
                self.store.promote(self.queue)
                self.store.recover(self.queue)
            except redis.RedisError as exc:
                self.outage.failed("promoting and recovering jobs", exc)

    def _renew(self, now: float) -> None:
        """Renew each running job's lease once a third of it has passed since the last renewal."""
        with self.lock:
            due = [
                lease
                for lease in self.leases.values()
                if now - lease.renewed >= self.queue.lease / 3
            ]
        for lease in due:
            try:
                renewed = self.store.heartbeat(self.queue, lease.job)
            except redis.RedisError as exc:
                self.outage.failed(f"renewing the lease of job {lease.job.id}", exc)
                continue
            if renewed:
                lease.renewed = now
            elif not lease.lost:
                lease.lost = True
                logger.warning(
                    "job %s lost its lease: another worker may run it again", lease.job.id
                )
