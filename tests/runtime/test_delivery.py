"""Subscriptions' retries and dead letters (`purista.runtime.delivery`), script by script."""

from __future__ import annotations

import time
from dataclasses import replace

import redis
from purista.runtime.app import get_deliveries, get_jobs
from purista.runtime.delivery import SEND_LEASE, Event
from purista.runtime.jobs import job_key, keys
from purista.runtime.project import SUBSCRIPTIONS

AUDIT = SUBSCRIPTIONS["rtdouble.greeter.v1.audit"]
K = keys(AUDIT.name)


def event(attempt: int = 1, event_id: str = "e1") -> Event:
    header = {"message_id": event_id, "trace_id": "t1", "attempt": attempt}
    return Event(event_id, "greeter.v1.audit", {"name": "x"}, header, attempt)


def now_ms(client: redis.Redis) -> float:
    seconds, micros = client.time()
    return seconds * 1000 + micros / 1000


def test_the_attempt_comes_from_the_header_and_counts_lost_deliveries(client: redis.Redis) -> None:
    d = get_deliveries()
    assert d.attempt("e1", {}, redelivered=False) == 1
    assert d.attempt("e1", {"attempt": 2}, redelivered=False) == 2
    assert d.attempt("e1", {"attempt": "two"}, redelivered=False) == 1
    # A delivery Redis hands out again (its worker was lost) counts once more each time.
    assert d.attempt("e1", {"attempt": 2}, redelivered=True) == 3
    assert d.attempt("e1", {"attempt": 2}, redelivered=True) == 4
    assert 0 < client.ttl("rtdouble:deliveries:e1")


def test_a_failure_schedules_the_next_attempt_after_its_backoff(client: redis.Redis) -> None:
    d = get_deliveries()
    assert d.failed(AUDIT, event(1), "RuntimeError: no") == "failed"
    due = client.zscore(K["scheduled"], "e1")
    assert due is not None
    assert abs(due - (now_ms(client) + AUDIT.backoff_initial * 1000)) < 50
    record = get_jobs().get("e1")
    assert record is not None
    assert (record["status"], record["attempt"], record["last_error"]) == (
        "failed",
        1,
        "RuntimeError: no",
    )
    assert record["payload"] == {"name": "x"}
    assert "attempt" not in record["message"]  # the header is kept without the count
    assert client.ttl(job_key("e1")) == -1


def test_the_last_failure_buries_the_event_once_for_the_retention(client: redis.Redis) -> None:
    d = get_deliveries()
    last = event(AUDIT.max_attempts)
    assert d.failed(AUDIT, last, "RuntimeError: no") == "dead"
    assert not d.bury(AUDIT, last, "again")  # a second burial of the same event adds nothing
    assert client.lrange(K["dead"], 0, -1) == [b"e1"]
    assert client.zcard(K["scheduled"]) == 0
    assert 0 < client.ttl(job_key("e1"))
    (parked,) = get_jobs().dead_letters(AUDIT)
    assert (parked["status"], parked["last_error"]) == ("dead", "RuntimeError: no")


def test_take_leases_the_due_events_and_sent_forgets_them(client: redis.Redis) -> None:
    d = get_deliveries()
    d.failed(AUDIT, event(1, "e1"), "no")
    d.failed(replace(AUDIT, backoff_initial=60), event(1, "e2"), "no")  # not due yet
    assert d.take(AUDIT) == []
    time.sleep(AUDIT.backoff_initial + 0.05)
    (due,) = d.take(AUDIT)
    assert (due.id, due.task, due.payload, due.attempt) == (
        "e1",
        "greeter.v1.audit",
        {"name": "x"},
        1,
    )
    lease = client.zscore(K["leased"], "e1")
    assert lease is not None
    assert abs(lease - (now_ms(client) + SEND_LEASE * 1000)) < 1000
    d.sent(AUDIT, due)
    assert not client.exists(job_key("e1"))
    assert client.zscore(K["leased"], "e1") is None
    assert client.zscore(K["scheduled"], "e2") is not None


def test_an_event_that_fails_again_before_sent_keeps_its_next_attempt(client: redis.Redis) -> None:
    d = get_deliveries()
    d.failed(AUDIT, event(1), "no")
    time.sleep(AUDIT.backoff_initial + 0.05)
    (due,) = d.take(AUDIT)
    # The worker handled the sent event, and it failed again, before `sent` ran.
    d.failed(AUDIT, replace(due, attempt=2), "no again")
    d.sent(AUDIT, due)
    record = get_jobs().get("e1")
    assert record is not None
    assert (record["status"], record["attempt"]) == ("failed", 2)
    assert client.zscore(K["scheduled"], "e1") is not None


def test_a_lease_that_ran_out_is_taken_again(client: redis.Redis) -> None:
    d = get_deliveries()
    d.failed(AUDIT, event(1), "no")
    time.sleep(AUDIT.backoff_initial + 0.05)
    assert len(d.take(AUDIT)) == 1
    client.zadd(K["leased"], {"e1": 1})  # the worker that took it died before sending it
    (again,) = d.take(AUDIT)
    assert again.id == "e1"


def test_redrive_schedules_the_dead_events_at_once_with_fresh_attempts(
    client: redis.Redis,
) -> None:
    d = get_deliveries()
    for i in range(7):
        d.bury(AUDIT, event(AUDIT.max_attempts, f"e{i}"), "no")
    d.attempt("e0", {}, redelivered=True)
    assert d.redrive(AUDIT) == 7
    assert client.llen(K["dead"]) == 0
    assert client.zcard(K["scheduled"]) == 7
    assert not client.exists("rtdouble:deliveries:e0")  # lost deliveries start over too
    record = get_jobs().get("e0")
    assert record is not None
    assert (record["status"], record["attempt"]) == ("scheduled", 0)
    assert client.ttl(job_key("e0")) == -1
    taken = d.take(AUDIT)
    assert sorted(e.id for e in taken) == [f"e{i}" for i in range(7)]
    assert {e.attempt for e in taken} == {0}  # sent as attempt 1


def test_purge_of_a_subscription_s_dead_letters(client: redis.Redis) -> None:
    d = get_deliveries()
    for i in range(3):
        d.bury(AUDIT, event(AUDIT.max_attempts, f"e{i}"), "no")
    assert get_jobs().purge(AUDIT) == 3
    assert client.llen(K["dead"]) == 0
    assert not client.exists(job_key("e0"))
