"""The job worker in-process (`purista.runtime.jobworker`): leases, outcomes, stopping."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest
import redis
from purista.runtime.app import get_jobs
from purista.runtime.info import QueueInfo
from purista.runtime.jobs import JobStore, job_key
from purista.runtime.jobworker import JobWorker
from purista.runtime.project import QUEUES
from purista.runtime.runner import job_binding
from runtime_double.handlers import work
from support import wait_for

WORK = replace(QUEUES["work"], lease=0.9)


@contextmanager
def running(store: JobStore, concurrency: int = 1, queue: QueueInfo = WORK) -> Iterator[JobWorker]:
    """A job worker on threads of this process, stopped (and its jobs finished) on exit."""
    worker = JobWorker(queue, job_binding("work"), store, concurrency)
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(worker.run()))
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(10)
    assert codes == [0]


def heartbeats(store: JobStore) -> list[float]:
    """Record when the store renews a lease."""
    times: list[float] = []
    original = store.heartbeat

    def counted(queue: Any, job: Any) -> bool:
        times.append(time.monotonic())
        return original(queue, job)

    store.heartbeat = counted  # type: ignore[method-assign]
    return times


def test_a_lease_is_renewed_every_third_of_the_lease(client: redis.Redis) -> None:
    store = get_jobs()
    times = heartbeats(store)
    queue = replace(WORK, lease=3.0)  # the keeper polls every 0.5 s; renewals are due every 1 s
    job_id = store.enqueue(queue, {"task": "ok", "seconds": 2.6}, {})
    with running(store, queue=queue):
        assert wait_for(lambda: (store.get(job_id) or {}).get("status") == "succeeded", 10, 0.05)
    assert len(times) == 2, times
    assert times[1] - times[0] >= queue.lease / 3 - 0.05


def test_a_lost_lease_is_reported_once(
    client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    store = get_jobs()
    job_id = store.enqueue(WORK, {"task": "ok", "seconds": 2.0}, {})
    with caplog.at_level(logging.WARNING), running(store):
        assert wait_for(lambda: work.CALLS, 5, 0.01)
        client.hset(job_key(job_id), "token", "another worker's")  # taken over
        time.sleep(2.2)  # the job runs on, its lease renewals refused each time
    lost = [r for r in caplog.records if "lost its lease" in r.getMessage()]
    assert len(lost) == 1
    assert any("result dropped" in r.getMessage() for r in caplog.records)


def test_each_thread_runs_jobs_side_by_side_and_each_job_once(client: redis.Redis) -> None:
    store = get_jobs()
    ids = [store.enqueue(WORK, {"task": "ok", "seconds": 0.3}, {}) for _ in range(6)]
    started = time.monotonic()
    with running(store, concurrency=3):
        assert wait_for(
            lambda: all((store.get(i) or {}).get("status") == "succeeded" for i in ids), 10, 0.02
        )
    assert time.monotonic() - started < 6 * 0.3  # three at a time
    assert sorted(c["id"] for c in work.CALLS) == sorted(ids)


def test_a_failing_job_is_recorded_and_retried(client: redis.Redis) -> None:
    store = get_jobs()
    job_id = store.enqueue(WORK, {"task": "fail"}, {})
    with running(store):
        assert wait_for(lambda: (store.get(job_id) or {}).get("status") == "dead", 10, 0.05)
    record = store.get(job_id)
    assert record is not None
    assert record["attempt"] == WORK.max_attempts
    assert record["last_error"] == f"RuntimeError: failed on attempt {WORK.max_attempts}"


def test_an_idle_worker_starts_a_new_job_at_once(client: redis.Redis) -> None:
    store = get_jobs()
    with running(store):
        time.sleep(0.5)  # idle: every thread waits on the queue
        enqueued = time.time()
        job_id = store.enqueue(WORK, {"task": "ok"}, {})
        assert wait_for(lambda: (store.get(job_id) or {}).get("status") == "succeeded", 5, 0.01)
    record = store.get(job_id)
    assert record is not None
    assert record["started_at"] - enqueued < 0.1  # not at the next poll
