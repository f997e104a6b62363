"""The job queue's scripts, one by one, against a real Redis (`purista.runtime.jobs`)."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any

import pytest
import redis
from purista.runtime import jobs
from purista.runtime.jobs import Claimed, JobStore, job_key, keys
from purista.runtime.project import QUEUES

QUEUE = QUEUES["work"]
K = keys(QUEUE.name)


def store(client: redis.Redis, retention: float = 3600) -> JobStore:
    return JobStore(client, retention)


def add(s: JobStore, n: int = 1, **kwargs: Any) -> list[str]:
    return [s.enqueue(QUEUE, {"task": f"t{i}"}, {"trace_id": "tr"}, **kwargs) for i in range(n)]


def claim(s: JobStore) -> Claimed:
    job = s.claim(QUEUE)
    assert job is not None
    return job


def now_ms(client: redis.Redis) -> float:
    seconds, micros = client.time()
    return seconds * 1000 + micros / 1000


def kill(s: JobStore, job_id: str | None = None) -> str:
    """Run one job to its death (every attempt failed); returns its id."""
    job_id = job_id or add(s)[0]
    while True:
        job = claim(s)
        assert job.id == job_id
        if s.fail(QUEUE, job, "RuntimeError: no") == "dead":
            return job_id
        s.client.zadd(K["scheduled"], {job_id: 0})  # due at once
        s.promote(QUEUE)


def count_calls(s: JobStore, script: str) -> list[int]:
    """Count the calls of one of the store's scripts."""
    calls: list[int] = []
    original = s._scripts[script]

    def counted(**kwargs: Any) -> Any:
        calls.append(1)
        return original(**kwargs)

    s._scripts[script] = counted  # type: ignore[assignment]
    return calls


# ------------------------------------------------------------------------- enqueue


def test_enqueue_stores_a_queued_job_at_the_new_end_of_pending(client: redis.Redis) -> None:
    s = store(client)
    first, second = add(s, 2)
    assert [i.decode() for i in client.lrange(K["pending"], 0, -1)] == [second, first]
    record = s.get(first)
    assert record is not None
    assert record["status"] == "queued"
    assert record["payload"] == {"task": "t0"}
    assert record["message"] == {"trace_id": "tr"}
    assert (record["attempt"], record["max_attempts"]) == (0, QUEUE.max_attempts)
    assert record["queued_at"] == record["created_at"]
    assert client.ttl(job_key(first)) == -1  # kept until it finishes


def test_a_delayed_job_is_scheduled_for_its_due_time(client: redis.Redis) -> None:
    s = store(client)
    (job_id,) = add(s, delay=30)
    due = client.zscore(K["scheduled"], job_id)
    assert due is not None
    assert abs(due - (now_ms(client) + 30_000)) < 1000
    record = s.get(job_id)
    assert record is not None
    assert record["status"] == "scheduled"
    assert client.llen(K["pending"]) == 0
    with pytest.raises(ValueError, match="between 0 and"):
        add(s, delay=-1)


def test_an_idempotency_key_gives_one_job_and_lives_as_long_as_it(client: redis.Redis) -> None:
    s = store(client, retention=60)
    first = s.enqueue(QUEUE, {"task": "a"}, {}, idempotency_key="k1")
    again = s.enqueue(QUEUE, {"task": "b"}, {}, idempotency_key="k1")
    other = s.enqueue(QUEUE, {"task": "c"}, {}, idempotency_key="k2")
    assert again == first != other
    assert client.llen(K["pending"]) == 2
    assert client.ttl(K["key"] + "k1") == -1  # no expiry while the job lives
    job = claim(s)
    assert s.succeed(QUEUE, job, None)
    assert 0 < client.pttl(K["key"] + "k1") <= 60_000  # expires with the record
    assert abs(client.pttl(K["key"] + "k1") - client.pttl(job_key(first))) < 100


# ----------------------------------------------------------------------- claim


def test_claim_leases_the_oldest_job(client: redis.Redis) -> None:
    s = store(client)
    first, _ = add(s, 2)
    job = claim(s)
    assert (job.id, job.attempt, job.payload) == (first, 1, {"task": "t0"})
    assert job.message == {"trace_id": "tr"}
    lease = client.zscore(K["leased"], first)
    assert lease is not None
    assert abs(lease - (now_ms(client) + QUEUE.lease * 1000)) < 1000
    record = s.get(first)
    assert record is not None
    assert record["status"] == "running"
    assert "token" not in record  # the lease token stays inside Redis


def test_claim_says_how_long_the_job_waited_since_it_was_due(client: redis.Redis) -> None:
    s = store(client)
    add(s)
    time.sleep(0.3)
    waited = claim(s).waited
    assert 0.25 <= waited < 5
    add(s, delay=0.2)  # a delayed job waits from its due time, not from its enqueue
    time.sleep(0.3)
    s.promote(QUEUE)
    assert 0 <= claim(s).waited < 0.25


def test_claim_of_an_empty_queue_or_of_a_vanished_record_gives_none(client: redis.Redis) -> None:
    s = store(client)
    assert s.claim(QUEUE) is None
    (job_id,) = add(s)
    client.delete(job_key(job_id))
    assert s.claim(QUEUE) is None
    assert client.llen(K["pending"]) == 0


# ------------------------------------------------------------------- heartbeat


def test_a_heartbeat_renews_the_lease_of_the_worker_holding_it(client: redis.Redis) -> None:
    s = store(client)
    add(s)
    job = claim(s)
    client.zadd(K["leased"], {job.id: 1})
    assert s.heartbeat(QUEUE, job)
    renewed = client.zscore(K["leased"], job.id)
    assert renewed is not None
    assert renewed > now_ms(client)
    assert not s.heartbeat(QUEUE, replace(job, token="someone else"))


# -------------------------------------------------------------------- succeed


def test_succeed_records_the_result_and_keeps_the_job_for_the_retention(
    client: redis.Redis,
) -> None:
    s = store(client, retention=60)
    add(s)
    job = claim(s)
    assert s.succeed(QUEUE, job, {"done": 1})
    record = s.get(job.id)
    assert record is not None
    assert (record["status"], record["result"]) == ("succeeded", {"done": 1})
    assert client.zscore(K["leased"], job.id) is None
    assert 0 < client.pttl(job_key(job.id)) <= 60_000


def test_succeed_after_the_lease_was_taken_over_changes_nothing(client: redis.Redis) -> None:
    s = store(client)
    add(s)
    job = claim(s)
    client.zadd(K["leased"], {job.id: 1})
    assert s.recover(QUEUE) == 1
    assert not s.succeed(QUEUE, job, {"late": True})
    record = s.get(job.id)
    assert record is not None
    assert record["status"] == "queued"
    assert "result" not in record


# ------------------------------------------------------------------------ fail


def test_a_failed_attempt_is_retried_after_its_backoff(client: redis.Redis) -> None:
    s = store(client)
    add(s)
    job = claim(s)
    assert s.fail(QUEUE, job, "RuntimeError: boom") == "failed"
    record = s.get(job.id)
    assert record is not None
    assert (record["status"], record["last_error"]) == ("failed", "RuntimeError: boom")
    due = client.zscore(K["scheduled"], job.id)
    assert due is not None
    # attempt 1: `backoff.initial` (50 ms, no jitter in the double)
    assert abs(due - (now_ms(client) + QUEUE.backoff_initial * 1000)) < 30
    assert client.zscore(K["leased"], job.id) is None


def test_the_last_attempt_buries_the_job_for_the_retention(client: redis.Redis) -> None:
    s = store(client, retention=60)
    job_id = kill(s)
    record = s.get(job_id)
    assert record is not None
    assert (record["status"], record["attempt"]) == ("dead", QUEUE.max_attempts)
    assert client.lrange(K["dead"], 0, -1) == [job_id.encode()]
    assert 0 < client.pttl(job_key(job_id)) <= 60_000


def test_a_final_failure_is_dead_at_once(client: redis.Redis) -> None:
    s = store(client)
    add(s)
    job = claim(s)
    assert s.fail(QUEUE, job, "InvalidPayload: x", final=True) == "dead"
    assert client.llen(K["dead"]) == 1


def test_backoff_is_exponential_capped_and_jittered() -> None:
    queue = replace(QUEUE, backoff_initial=1, backoff_factor=2, backoff_max=10, backoff_jitter=0)
    assert [jobs.backoff(queue, a) for a in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 10]
    jittery = replace(queue, backoff_jitter=0.25)
    samples = [jobs.backoff(jittery, 3) for _ in range(200)]
    assert all(3 <= x <= 5 for x in samples)
    assert len(set(samples)) > 1


# --------------------------------------------------------------------- promote


def test_promote_moves_due_jobs_in_batches_and_leaves_the_rest(client: redis.Redis) -> None:
    s = store(client)
    due = add(s, 12, delay=0.001)
    later = add(s, 1, delay=60)
    time.sleep(0.01)
    calls = count_calls(s, "promote")
    assert s.promote(QUEUE) == 12
    assert len(calls) == 3  # batches of `schedule_batch_size` (5)
    assert {i.decode() for i in client.lrange(K["pending"], 0, -1)} == set(due)
    assert client.zrange(K["scheduled"], 0, -1) == [later[0].encode()]
    record = s.get(due[0])
    assert record is not None
    assert record["status"] == "queued"


def test_promote_drops_a_scheduled_id_whose_record_is_gone(client: redis.Redis) -> None:
    s = store(client)
    (job_id,) = add(s, delay=0.001)
    client.delete(job_key(job_id))
    time.sleep(0.01)
    s.promote(QUEUE)
    assert client.zcard(K["scheduled"]) == 0
    assert client.llen(K["pending"]) == 0
    assert not client.exists(job_key(job_id))  # no half record made up


# --------------------------------------------------------------------- recover


def test_recover_requeues_a_job_whose_lease_expired(client: redis.Redis) -> None:
    s = store(client)
    add(s)
    job = claim(s)
    client.zadd(K["leased"], {job.id: 1})
    assert s.recover(QUEUE) == 1
    record = s.get(job.id)
    assert record is not None
    assert record["status"] == "queued"
    assert "lease expired" in record["last_error"]
    assert claim(s).attempt == 2


def test_recover_buries_a_job_out_of_attempts_and_it_expires(client: redis.Redis) -> None:
    s = store(client, retention=60)
    job_id = s.enqueue(QUEUE, {"task": "x"}, {}, idempotency_key="k")
    for _ in range(QUEUE.max_attempts):
        job = claim(s)
        client.zadd(K["leased"], {job.id: 1})
        s.recover(QUEUE)
    record = s.get(job_id)
    assert record is not None
    assert record["status"] == "dead"
    assert client.lrange(K["dead"], 0, -1) == [job_id.encode()]
    # A job dead by lease expiry gets its retention like any other dead job, its key too.
    assert 0 < client.pttl(job_key(job_id)) <= 60_000
    assert 0 < client.pttl(K["key"] + "k") <= 60_000


def test_recover_works_in_batches(client: redis.Redis) -> None:
    s = store(client)
    add(s, 11)
    for _ in range(11):
        client.zadd(K["leased"], {claim(s).id: 1})
    calls = count_calls(s, "recover")
    assert s.recover(QUEUE) == 11
    assert len(calls) == 3
    assert client.llen(K["pending"]) == 11


# ------------------------------------------------------------------ dead letters


def test_expired_dead_jobs_leave_the_dead_letter_list(client: redis.Redis) -> None:
    s = store(client, retention=0.2)
    old = kill(s)
    time.sleep(0.3)
    young = kill(store(client, retention=60))
    assert client.llen(K["dead"]) == 1  # burying `young` trimmed `old`
    time.sleep(0.05)
    assert s.stats(QUEUE)["dead_letters"] == 1
    assert [r["id"] for r in s.dead_letters(QUEUE)] == [young]
    assert old not in {i.decode() for i in client.lrange(K["dead"], 0, -1)}


def test_stats_and_the_list_agree_when_records_expire_unseen(client: redis.Redis) -> None:
    s = store(client, retention=0.2)
    kill(s)
    kill(s)
    time.sleep(0.3)
    stats = s.stats(QUEUE)
    assert stats["dead_letters"] == len(list(s.dead_letters(QUEUE))) == 0


def test_dead_letters_page_newest_first(client: redis.Redis) -> None:
    s = store(client)
    ids = [kill(s) for _ in range(7)]
    newest_first = list(reversed(ids))
    assert [r["id"] for r in s.dead_letters(QUEUE)] == newest_first
    assert [r["id"] for r in s.dead_letters(QUEUE, offset=2, limit=3)] == newest_first[2:5]
    assert [r["id"] for r in s.dead_letters(QUEUE, offset=6, limit=10)] == newest_first[6:]
    assert list(s.dead_letters(QUEUE, offset=7)) == []


def test_redrive_requeues_dead_jobs_in_batches_with_fresh_attempts(client: redis.Redis) -> None:
    s = store(client, retention=60)
    ids = [kill(s, s.enqueue(QUEUE, {"task": "x"}, {}, idempotency_key=f"k{i}")) for i in range(12)]
    calls = count_calls(s, "redrive")
    assert s.redrive(QUEUE) == 12
    assert len(calls) == 3  # batches of `recovery_batch_size` (5)
    assert client.llen(K["dead"]) == 0
    assert [i.decode() for i in client.lrange(K["pending"], 0, -1)] == list(reversed(ids))
    for job_id in ids:
        record = s.get(job_id)
        assert record is not None
        assert (record["status"], record["attempt"]) == ("queued", 0)
        assert client.ttl(job_key(job_id)) == -1
    assert client.ttl(K["key"] + "k0") == -1


def test_redrive_takes_only_what_the_list_held_when_it_began(client: redis.Redis) -> None:
    s = store(client)
    for _ in range(3):
        kill(s)
    original = s._scripts["redrive"]

    def and_one_more_dies(**kwargs: Any) -> Any:
        result = original(**kwargs)
        client.lpush(K["dead"], "latecomer")
        return result

    s._scripts["redrive"] = and_one_more_dies  # type: ignore[assignment]
    assert s.redrive(QUEUE) == 3
    assert client.lrange(K["dead"], 0, -1) == [b"latecomer"]


def test_redrive_drops_ids_whose_records_expired(client: redis.Redis) -> None:
    s = store(client)
    ids = [kill(s) for _ in range(2)]
    client.rpush(K["dead"], "expired")  # the oldest id, its record gone
    assert s.redrive(QUEUE) == 2
    assert client.llen(K["dead"]) == 0
    assert sorted(i.decode() for i in client.lrange(K["pending"], 0, -1)) == sorted(ids)


def test_purge_deletes_dead_jobs_and_their_keys_in_batches(client: redis.Redis) -> None:
    s = store(client)
    ids = [kill(s, s.enqueue(QUEUE, {"task": "x"}, {}, idempotency_key=f"k{i}")) for i in range(7)]
    calls = count_calls(s, "purge")
    assert s.purge(QUEUE) == 7
    assert len(calls) == 2
    assert client.llen(K["dead"]) == 0
    assert not any(client.exists(job_key(i)) for i in ids)
    assert not client.exists(K["key"] + "k0")
    # The key is free again: the same key gives a new job now.
    assert s.enqueue(QUEUE, {"task": "x"}, {}, idempotency_key="k0") not in ids


def test_purge_while_jobs_die_leaves_no_record_without_its_id(client: redis.Redis) -> None:
    s = store(client)
    first = [kill(s) for _ in range(20)]
    later = add(s, 300)
    claimed = [claim(s) for _ in later]

    def bury() -> None:
        for job in claimed:
            s.fail(QUEUE, job, "no", final=True)

    burier = threading.Thread(target=bury)
    burier.start()
    purged = 0
    while burier.is_alive():
        purged += s.purge(QUEUE)
    burier.join()
    listed = {i.decode() for i in client.lrange(K["dead"], 0, -1)}
    dead_records = {
        i for i in first + later if (r := s.get(i)) is not None and r["status"] == "dead"
    }
    assert listed == dead_records  # every dead record is listed, every listed id has one
    assert purged + len(listed) == len(first) + len(later)


# ----------------------------------------------------------------------- stats


def test_stats_count_what_redis_holds(client: redis.Redis) -> None:
    s = store(client)
    add(s, 3)
    add(s, 2, delay=60)
    claim(s)
    stats = s.stats(QUEUE)
    assert (stats["pending"], stats["scheduled"], stats["in_flight"]) == (2, 2, 1)
    assert stats["dead_letters"] == 0
    assert stats["oldest_age"] is not None
    assert 0 <= stats["oldest_age"] < 5
    assert s.get("no-such-job") is None


def test_wait_returns_as_soon_as_a_job_is_pending(client: redis.Redis) -> None:
    s = store(client)
    started = time.monotonic()
    s.wait(QUEUE, 1)  # nothing pending: the whole second
    assert time.monotonic() - started >= 0.9
    timer = threading.Timer(0.2, lambda: add(s))
    timer.start()
    started = time.monotonic()
    s.wait(QUEUE, 5)
    timer.join()
    assert time.monotonic() - started < 1.0
    assert client.llen(K["pending"]) == 1  # waiting changed nothing
