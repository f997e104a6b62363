# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""Job queues on Redis: leases, retries with backoff, delayed jobs, dead letters, idempotency.

Jobs do not travel as Celery messages: a worker would hold a delayed or retried
Celery task in memory and kombu's visibility sweep is shared by every queue of a
Redis database. Here every state lives in Redis and each change is one Lua script:

    <project>:jobs:<queue>:pending       list of job ids, oldest at the right
    <project>:jobs:<queue>:scheduled     sorted set, id -> due time (ms)
    <project>:jobs:<queue>:leased        sorted set, id -> lease expiry (ms)
    <project>:jobs:<queue>.dead-letter   list of dead job ids, oldest at the right
    <project>:jobs:<queue>:key:<key>     idempotency key -> job id
    <project>:job:<id>                   hash: status, payload, attempt, last error, result, ...

A job's status is queued, scheduled (delayed), running, succeeded, failed (an
attempt failed; the next one is scheduled) or dead (in the dead-letter list).

A running job's lease is renewed by its worker every third of the lease, so a
job may run longer than its lease while its worker lives; when the worker dies,
any other worker of the queue runs the job again once the lease has expired.

A finished job (succeeded or dead) is kept for the retention period, and its
idempotency key with it: both expire together, and `dlq purge` deletes both. A
dead job's id leaves the dead-letter list when its record expires (the scripts
trim the list's old end), so the list and the records agree.

The keys of a queue share no hash tag and the scripts reach job records by names
they build, so these keys are not Redis Cluster safe: use one Redis server (with
replicas or Sentinel for failover), as Celery's Redis broker needs anyway.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import redis

from .info import QueueInfo
from .project import PROJECT
from .settings import JOB_RETENTION, MAX_PAYLOAD, check_size

PayloadT = TypeVar("PayloadT")

#: The longest delay of a job (a year): later than that is surely a mistake.
MAX_DELAY = 365 * 24 * 3600.0


@dataclass(frozen=True)
class Job(Generic[PayloadT]):
    """A job: its id, its typed payload and which attempt this is (1 for the first run)."""

    id: str
    payload: PayloadT
    attempt: int = 0


@dataclass(frozen=True)
class Claimed:
    """A job a worker has leased and must now run."""

    id: str
    payload: Any
    attempt: int
    max_attempts: int
    message: dict[str, Any]
    token: str
    waited: float = 0.0  # seconds between the job being due and this claim


def keys(queue: str) -> dict[str, str]:
    """The Redis keys of a queue (`key` is the prefix of its idempotency keys)."""
    base = f"{PROJECT}:jobs:{queue}"
    return {
        "pending": f"{base}:pending",
        "scheduled": f"{base}:scheduled",
        "leased": f"{base}:leased",
        "dead": f"{base}.dead-letter",
        "key": f"{base}:key:",
    }


def job_key(job_id: str) -> str:
    """The Redis hash holding a job."""
    return f"{PROJECT}:job:{job_id}"


# Shared by the scripts (and those of `delivery`): the server's clock in ms, and what
# happens to a finished job.
LIBRARY = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)

-- The job's idempotency key, if it still names this job.
local function idempotency_key(job, id, prefix)
  local key = redis.call('HGET', job, 'idempotency_key')
  if key and key ~= '' and redis.call('GET', prefix .. key) == id then
    return prefix .. key
  end
  return nil
end

-- A finished job and its idempotency key expire together, after the retention.
local function retain(job, id, prefix, ms)
  redis.call('PEXPIRE', job, ms)
  local key = idempotency_key(job, id, prefix)
  if key then redis.call('PEXPIRE', key, ms) end
end

-- A job back in play: kept until it finishes again.
local function keep(job, id, prefix)
  redis.call('PERSIST', job)
  local key = idempotency_key(job, id, prefix)
  if key then redis.call('PERSIST', key) end
end

-- Drop ids at the old end of the dead-letter list whose records have expired.
local function trim(dead, job_prefix, limit)
  local dropped = 0
  while dropped < limit do
    local id = redis.call('LINDEX', dead, -1)
    if not id or redis.call('EXISTS', job_prefix .. id) == 1 then break end
    redis.call('RPOP', dead)
    dropped = dropped + 1
  end
  return dropped
end

-- Take up to `batch` ids from the old end of a dead-letter list, calling `each` on
-- every one: {taken from the list, what the calls returned, summed}.
local function drain(dead, batch, each)
  local taken, done = 0, 0
  while taken < batch do
    local id = redis.call('RPOP', dead)
    if not id then break end
    taken = taken + 1
    done = done + each(id)
  end
  return {taken, done}
end
"""

# KEYS: pending, scheduled, job, idempotency key
# ARGV: key (or ''), id, payload, message, delay (ms), queue, max attempts
_ENQUEUE = """
if ARGV[1] ~= '' then
  local existing = redis.call('GET', KEYS[4])
  if existing then return existing end
  redis.call('SET', KEYS[4], ARGV[2])
end
local delay = tonumber(ARGV[5])
local status = 'queued'
if delay > 0 then status = 'scheduled' end
redis.call('HSET', KEYS[3], 'id', ARGV[2], 'queue', ARGV[6], 'payload', ARGV[3],
  'message', ARGV[4], 'status', status, 'attempt', 0, 'max_attempts', ARGV[7],
  'created_at', now, 'queued_at', now + delay, 'idempotency_key', ARGV[1])
if delay > 0 then
  redis.call('ZADD', KEYS[2], now + delay, ARGV[2])
else
  redis.call('LPUSH', KEYS[1], ARGV[2])
end
return ARGV[2]
"""

# KEYS: pending, leased  ARGV: lease (ms), token, job prefix
_CLAIM = """
while true do
  local id = redis.call('RPOP', KEYS[1])
  if not id then return false end
  local job = ARGV[3] .. id
  if redis.call('EXISTS', job) == 1 then
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), id)
    local attempt = redis.call('HINCRBY', job, 'attempt', 1)
    redis.call('HSET', job, 'status', 'running', 'token', ARGV[2], 'started_at', now)
    local f = redis.call('HMGET', job, 'payload', 'max_attempts', 'message', 'queued_at')
    return {id, f[1], attempt, f[2], f[3], math.max(0, now - tonumber(f[4] or now))}
  end
end
"""

# KEYS: leased, job  ARGV: id, token, lease (ms)
_HEARTBEAT = """
if redis.call('HGET', KEYS[2], 'token') ~= ARGV[2] then return 0 end
return redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[3]), ARGV[1]) + 1
"""

# KEYS: leased, job  ARGV: id, token, result, retention (ms), key prefix
_SUCCEED = """
if redis.call('HGET', KEYS[2], 'token') ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'status', 'succeeded', 'result', ARGV[3],
  'finished_at', now, 'token', '')
retain(KEYS[2], ARGV[1], ARGV[5], ARGV[4])
return 1
"""

# KEYS: leased, scheduled, dead, job
# ARGV: id, token, error, 'dead' or 'retry', delay (ms), retention (ms), key prefix, job prefix
_FAIL = """
if redis.call('HGET', KEYS[4], 'token') ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[4], 'last_error', ARGV[3], 'token', '', 'finished_at', now)
if ARGV[4] == 'dead' then
  redis.call('HSET', KEYS[4], 'status', 'dead')
  redis.call('LPUSH', KEYS[3], ARGV[1])
  retain(KEYS[4], ARGV[1], ARGV[7], ARGV[6])
  trim(KEYS[3], ARGV[8], 100)
else
  redis.call('HSET', KEYS[4], 'status', 'failed', 'queued_at', now + tonumber(ARGV[5]))
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[5]), ARGV[1])
end
return 1
"""

# KEYS: scheduled, pending  ARGV: batch, job prefix
_PROMOTE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  if redis.call('EXISTS', ARGV[2] .. id) == 1 then
    redis.call('LPUSH', KEYS[2], id)
    redis.call('HSET', ARGV[2] .. id, 'status', 'queued')
  end
end
return #ids
"""

# KEYS: leased, pending, dead  ARGV: batch, job prefix, retention (ms), key prefix
_RECOVER = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, id in ipairs(ids) do
  local job = ARGV[2] .. id
  redis.call('ZREM', KEYS[1], id)
  if redis.call('EXISTS', job) == 1 then
    local f = redis.call('HMGET', job, 'attempt', 'max_attempts')
    redis.call('HSET', job, 'token', '', 'finished_at', now,
      'last_error', 'lease expired: the worker running the job stopped')
    if tonumber(f[1] or 0) >= tonumber(f[2] or 1) then
      redis.call('HSET', job, 'status', 'dead')
      redis.call('LPUSH', KEYS[3], id)
      retain(job, id, ARGV[4], ARGV[3])
    else
      redis.call('HSET', job, 'status', 'queued')
      redis.call('RPUSH', KEYS[2], id)
    end
  end
end
trim(KEYS[3], ARGV[2], 100)
return #ids
"""

# KEYS: dead  ARGV: job prefix, batch
_TRIM = """
return trim(KEYS[1], ARGV[1], tonumber(ARGV[2]))
"""

# KEYS: dead, pending  ARGV: job prefix, batch, key prefix
# Moves up to a batch of the oldest dead jobs back to pending: {taken from the list, moved}.
_REDRIVE = """
return drain(KEYS[1], tonumber(ARGV[2]), function(id)
  local job = ARGV[1] .. id
  if redis.call('EXISTS', job) == 0 then return 0 end
  redis.call('HSET', job, 'status', 'queued', 'attempt', 0)
  keep(job, id, ARGV[3])
  redis.call('LPUSH', KEYS[2], id)
  return 1
end)
"""

# KEYS: dead  ARGV: job prefix, batch, key prefix
# Deletes up to a batch of the oldest dead jobs, with their idempotency keys:
# {taken from the list, deleted}. An id leaves the list with its record, in one step.
_PURGE = """
return drain(KEYS[1], tonumber(ARGV[2]), function(id)
  local job = ARGV[1] .. id
  local key = idempotency_key(job, id, ARGV[3])
  if key then redis.call('DEL', key) end
  return redis.call('DEL', job)
end)
"""

_SCRIPTS = {
    "enqueue": _ENQUEUE,
    "claim": _CLAIM,
    "heartbeat": _HEARTBEAT,
    "succeed": _SUCCEED,
    "fail": _FAIL,
    "promote": _PROMOTE,
    "recover": _RECOVER,
    "trim": _TRIM,
    "redrive": _REDRIVE,
    "purge": _PURGE,
}


class JobStore:
    """Every operation on job queues, for producers, workers and the command line."""

    def __init__(
        self, client: redis.Redis, retention: float = JOB_RETENTION, max_payload: int = MAX_PAYLOAD
    ) -> None:
        self.client = client
        self.retention_ms = int(retention * 1000)
        self.max_payload = max_payload
        self._scripts = {
            name: client.register_script(LIBRARY + source) for name, source in _SCRIPTS.items()
        }

    def enqueue(
        self,
        queue: QueueInfo,
        payload: dict[str, Any],
        message: dict[str, Any],
        *,
        delay: float | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """Store a job; with an idempotency key already used on this queue, the first job's id."""
        if delay is not None and not 0 <= delay <= MAX_DELAY:
            raise ValueError(f"delay must be between 0 and {MAX_DELAY:g} seconds, not {delay}")
        data = json.dumps(payload)
        check_size(data, self.max_payload, f"a job of {queue.name}", verb="enqueue")
        k = keys(queue.name)
        job_id = uuid.uuid4().hex
        result = self._scripts["enqueue"](
            keys=[
                k["pending"],
                k["scheduled"],
                job_key(job_id),
                k["key"] + (idempotency_key or ""),
            ],
            args=[
                idempotency_key or "",
                job_id,
                data,
                json.dumps(message),
                int((delay or 0) * 1000),
                queue.name,
                queue.max_attempts,
            ],
        )
        return text(result)

    def claim(self, queue: QueueInfo) -> Claimed | None:
        """Lease the oldest pending job of `queue`, or None if there is none."""
        k = keys(queue.name)
        token = uuid.uuid4().hex
        row = self._scripts["claim"](
            keys=[k["pending"], k["leased"]],
            args=[int(queue.lease * 1000), token, job_key("")],
        )
        if not row:
            return None
        job_id, payload, attempt, max_attempts, message, waited = row
        return Claimed(
            id=text(job_id),
            payload=json.loads(payload),
            attempt=int(attempt),
            max_attempts=int(max_attempts),
            message=json.loads(message or b"{}"),
            token=token,
            waited=int(waited) / 1000,
        )

    def wait(self, queue: QueueInfo, timeout: int) -> None:
        """Block until `queue` has a pending job, or at most `timeout` seconds.

        A blocking move of the oldest pending id onto the same end of the same list
        changes nothing, but wakes as soon as there is one: an idle worker takes a
        new job at once instead of at its next poll.
        """
        pending = keys(queue.name)["pending"]
        self.client.blmove(pending, pending, timeout, src="RIGHT", dest="RIGHT")

    def heartbeat(self, queue: QueueInfo, job: Claimed) -> bool:
        """Renew the lease of a running job; False if the job is no longer this worker's."""
        k = keys(queue.name)
        renewed = self._scripts["heartbeat"](
            keys=[k["leased"], job_key(job.id)], args=[job.id, job.token, int(queue.lease * 1000)]
        )
        return bool(renewed)

    def succeed(self, queue: QueueInfo, job: Claimed, result: Any) -> bool:
        """Record a job's success and its result; False if its lease was taken over."""
        k = keys(queue.name)
        done = self._scripts["succeed"](
            keys=[k["leased"], job_key(job.id)],
            args=[job.id, job.token, json.dumps(result), self.retention_ms, k["key"]],
        )
        return bool(done)

    def fail(self, queue: QueueInfo, job: Claimed, error: str, *, final: bool = False) -> str:
        """Record a failed attempt: retried after a backoff, or dead once attempts are used up."""
        k = keys(queue.name)
        final = final or job.attempt >= queue.max_attempts
        delay = 0 if final else backoff(queue, job.attempt)
        self._scripts["fail"](
            keys=[k["leased"], k["scheduled"], k["dead"], job_key(job.id)],
            args=[
                job.id,
                job.token,
                error,
                "dead" if final else "retry",
                int(delay * 1000),
                self.retention_ms,
                k["key"],
                job_key(""),
            ],
        )
        return "dead" if final else "failed"

    def promote(self, queue: QueueInfo) -> int:
        """Move due scheduled jobs to pending, `schedule_batch_size` per script call."""
        k = keys(queue.name)
        return self._repeat(
            "promote", [k["scheduled"], k["pending"]], [job_key("")], queue.schedule_batch_size
        )

    def recover(self, queue: QueueInfo) -> int:
        """Requeue jobs whose lease expired (or bury them), `recovery_batch_size` per call."""
        k = keys(queue.name)
        return self._repeat(
            "recover",
            [k["leased"], k["pending"], k["dead"]],
            [job_key(""), self.retention_ms, k["key"]],
            queue.recovery_batch_size,
        )

    def _repeat(self, script: str, script_keys: list[str], args: list[Any], batch: int) -> int:
        """Run a batch script until a call moves less than a whole batch (at most 200 calls)."""
        total = 0
        for _ in range(200):
            moved = int(self._scripts[script](keys=script_keys, args=[batch, *args]))
            total += moved
            if moved < batch:
                break
        return total

    def get(self, job_id: str) -> dict[str, Any] | None:
        """A job's record: status, attempts, last error, result, times."""
        return _record(cast(dict[bytes, bytes], self.client.hgetall(job_key(job_id))))

    def trim_dead_letters(self, queue: QueueInfo) -> None:
        """Drop the ids of dead jobs whose records have expired from the dead-letter list."""
        batch = dropped = queue.recovery_batch_size
        while dropped == batch:
            dropped = int(
                self._scripts["trim"](keys=[keys(queue.name)["dead"]], args=[job_key(""), batch])
            )

    def dead_letters(
        self, queue: QueueInfo, *, offset: int = 0, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """The jobs in a queue's dead-letter list, newest first, from `offset` on."""
        self.trim_dead_letters(queue)
        dead = keys(queue.name)["dead"]
        end = -1 if limit is None else offset + limit - 1
        page = max(1, queue.recovery_batch_size)
        start = offset
        while end == -1 or start <= end:
            stop = start + page - 1 if end == -1 else min(start + page - 1, end)
            ids = [text(i) for i in cast(list[bytes], self.client.lrange(dead, start, stop))]
            if not ids:
                return
            with self.client.pipeline(transaction=False) as pipe:
                for job_id in ids:
                    pipe.hgetall(job_key(job_id))
                rows = pipe.execute()
            for row in rows:
                record = _record(row)
                if record is not None:
                    yield record
            start += len(ids)

    def redrive(self, queue: QueueInfo) -> int:
        """Put the dead jobs back on the queue with a fresh set of attempts.

        In batches of `recovery_batch_size`, oldest first, and only as many as the
        list held when it began: jobs that die again meanwhile wait for the next run.
        """
        k = keys(queue.name)
        return self._drain(
            "redrive", [k["dead"], k["pending"]], k["key"], queue.recovery_batch_size
        )

    def purge(self, queue: QueueInfo) -> int:
        """Delete the dead jobs of a queue, with their idempotency keys; how many were deleted.

        In batches of `recovery_batch_size`, each id leaving the list with its record
        in one script call, and only as many as the list held when it began.
        """
        k = keys(queue.name)
        return self._drain("purge", [k["dead"]], k["key"], queue.recovery_batch_size)

    def _drain(self, script: str, script_keys: list[str], key_prefix: str, batch: int) -> int:
        """Run a dead-letter script batch by batch over as many ids as the list holds now."""
        remaining = cast(int, self.client.llen(script_keys[0]))
        done = 0
        while remaining > 0:
            taken, count = self._scripts[script](
                keys=script_keys, args=[job_key(""), min(batch, remaining), key_prefix]
            )
            remaining -= int(taken)
            done += int(count)
            if int(taken) == 0:
                break
        return done

    def stats(self, queue: QueueInfo) -> dict[str, Any]:
        """Pending, scheduled, in flight, dead letters and the age of the oldest pending job."""
        self.trim_dead_letters(queue)
        k = keys(queue.name)
        with self.client.pipeline(transaction=False) as pipe:
            pipe.llen(k["pending"])
            pipe.zcard(k["scheduled"])
            pipe.zcard(k["leased"])
            pipe.llen(k["dead"])
            pipe.lindex(k["pending"], -1)
            pipe.time()
            pending, scheduled, leased, dead, oldest, now = pipe.execute()
        age = None
        if oldest is not None:
            queued_at = cast(bytes | None, self.client.hget(job_key(text(oldest)), "queued_at"))
            if queued_at is not None:
                age = max(0.0, now[0] + now[1] / 1e6 - int(queued_at) / 1000)
        return {
            "pending": pending,
            "scheduled": scheduled,
            "in_flight": leased,
            "dead_letters": dead,
            "oldest_age": age,
        }


def _record(raw: dict[Any, Any]) -> dict[str, Any] | None:
    """A job hash as a record: JSON fields parsed, numbers as numbers, times in seconds."""
    if not raw:
        return None
    record: dict[str, Any] = {text(k): text(v) for k, v in raw.items()}
    record.pop("token", None)
    for field in ("payload", "result", "message"):
        if record.get(field):
            record[field] = json.loads(record[field])
    for field in ("attempt", "max_attempts"):
        record[field] = int(record.get(field, 0))
    for field in ("created_at", "queued_at", "started_at", "finished_at"):
        if record.get(field):
            record[field] = int(record[field]) / 1000
    return record


def text(value: bytes | str | Any) -> str:
    """A Redis reply as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def backoff(queue: QueueInfo, attempt: int) -> float:
    """Seconds before the next attempt: exponential from `initial`, capped at `max`, with jitter."""
    base = min(queue.backoff_max, queue.backoff_initial * queue.backoff_factor ** (attempt - 1))
    spread = base * queue.backoff_jitter
    return max(0.0, base + random.uniform(-spread, spread))
