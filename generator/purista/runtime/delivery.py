# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""Retries and dead letters of subscriptions: an event is handled at least once, or parked.

An event reaches a subscription as a Celery message on the subscription's queue.
When the handler raises, the event is kept in Redis and sent to the queue again
after a backoff, up to the subscription's `max_attempts` runs; then it waits in
the subscription's dead-letter list. A delivery whose worker was lost (killed,
crashed, out of memory) comes back from Redis's unacked index after the
visibility timeout; those deliveries count as attempts too, so an event that
kills its worker is parked instead of being delivered for ever.

The keys follow the job queues' layout, named after the subscription's queue, so
`dlq list|redrive|purge <queue>`, `job <event id>` and `stats` serve both:

    <project>:jobs:<queue>:scheduled     sorted set, event id -> when to send it again (ms)
    <project>:jobs:<queue>:leased        sorted set, event id -> until when a worker is sending it
    <project>:jobs:<queue>.dead-letter   list of event ids that used up their attempts
    <project>:job:<event id>             hash: payload, header, attempt, last error, status
    <project>:deliveries:<event id>      hash: attempt -> how often its delivery was lost
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import redis

from .info import QueueInfo
from .jobs import LIBRARY, JobStore, backoff, job_key, keys, text
from .project import PROJECT

#: Seconds a worker may take to send a due retry before another one sends it.
SEND_LEASE = 30.0

# KEYS: scheduled, record  ARGV: id, queue, task, payload, header, attempt, max, error, delay (ms)
_RETRY = """
redis.call('HSETNX', KEYS[2], 'created_at', now)
redis.call('HSET', KEYS[2], 'id', ARGV[1], 'queue', ARGV[2], 'task', ARGV[3], 'payload', ARGV[4],
  'message', ARGV[5], 'attempt', ARGV[6], 'max_attempts', ARGV[7], 'last_error', ARGV[8],
  'status', 'failed', 'finished_at', now, 'queued_at', now + tonumber(ARGV[9]))
redis.call('PERSIST', KEYS[2])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[9]), ARGV[1])
return 1
"""

# KEYS: dead, record  ARGV: id, queue, task, payload, header, attempt, max, error, retention, prefix
_BURY = """
if redis.call('HGET', KEYS[2], 'status') == 'dead' then return 0 end
redis.call('HSETNX', KEYS[2], 'created_at', now)
redis.call('HSET', KEYS[2], 'id', ARGV[1], 'queue', ARGV[2], 'task', ARGV[3], 'payload', ARGV[4],
  'message', ARGV[5], 'attempt', ARGV[6], 'max_attempts', ARGV[7], 'last_error', ARGV[8],
  'status', 'dead', 'finished_at', now)
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[9])
trim(KEYS[1], ARGV[10], 100)
return 1
"""

# KEYS: scheduled, leased  ARGV: batch, job prefix, send lease (ms)
# Due events move to `leased` while a worker sends them: {id, task, payload, header, attempt}...
_TAKE = """
local batch = tonumber(ARGV[1])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, batch)) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZADD', KEYS[1], now, id)
end
local rows = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, batch)) do
  redis.call('ZREM', KEYS[1], id)
  local job = ARGV[2] .. id
  if redis.call('EXISTS', job) == 1 then
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), id)
    redis.call('HSET', job, 'status', 'queued')
    local f = redis.call('HMGET', job, 'task', 'payload', 'message', 'attempt')
    table.insert(rows, {id, f[1], f[2], f[3], f[4]})
  end
end
return rows
"""

# KEYS: leased, record  ARGV: id, the attempts it had when it was taken
# The record goes, unless the sent event already failed again (its next attempt's record).
_SENT = """
redis.call('ZREM', KEYS[1], ARGV[1])
local f = redis.call('HMGET', KEYS[2], 'status', 'attempt')
if f[1] == 'queued' and f[2] == ARGV[2] then redis.call('DEL', KEYS[2]) end
return 1
"""

# KEYS: dead, scheduled  ARGV: job prefix, batch, deliveries prefix
_REDRIVE = """
return drain(KEYS[1], tonumber(ARGV[2]), function(id)
  local job = ARGV[1] .. id
  if redis.call('EXISTS', job) == 0 then return 0 end
  redis.call('HSET', job, 'status', 'scheduled', 'attempt', 0)
  redis.call('PERSIST', job)
  redis.call('ZADD', KEYS[2], now, id)
  redis.call('DEL', ARGV[3] .. id)
  return 1
end)
"""

_SCRIPTS = {"retry": _RETRY, "bury": _BURY, "take": _TAKE, "sent": _SENT, "redrive": _REDRIVE}


@dataclass(frozen=True)
class Event:
    """An event as a subscription gets it, and which attempt at handling it this is."""

    id: str
    task: str
    payload: Any
    header: dict[str, Any]
    attempt: int


class Deliveries:
    """The delivery policy of subscriptions: attempts, retries, dead letters, redrive."""

    def __init__(self, client: redis.Redis, jobs: JobStore) -> None:
        self.client = client
        self.jobs = jobs
        self._scripts = {
            name: client.register_script(LIBRARY + source) for name, source in _SCRIPTS.items()
        }

    def attempt(self, event_id: str, header: Any, *, redelivered: bool) -> int:
        """Which attempt this delivery of an event is (1 for the first).

        A message that was sent again after a failure carries its attempt in the
        header; a delivery of it that Redis handed out again (its worker was lost)
        counts once more.
        """
        sent = header.get("attempt") if isinstance(header, Mapping) else None
        base = sent if isinstance(sent, int) and sent >= 1 else 1
        if not redelivered:
            return base
        counter = f"{PROJECT}:deliveries:{event_id}"
        with self.client.pipeline() as pipe:
            pipe.hincrby(counter, str(base), 1)
            pipe.expire(counter, max(1, self.jobs.retention_ms // 1000))
            lost, _ = pipe.execute()
        return base + int(lost)

    def failed(self, subscription: QueueInfo, event: Event, error: str) -> str:
        """Record a failed attempt: sent again after a backoff, or dead when none is left."""
        if event.attempt >= subscription.max_attempts:
            self.bury(subscription, event, error)
            return "dead"
        delay = backoff(subscription, event.attempt)
        self._scripts["retry"](
            keys=[keys(subscription.name)["scheduled"], job_key(event.id)],
            args=[*_fields(subscription, event, error), int(delay * 1000)],
        )
        return "failed"

    def bury(self, subscription: QueueInfo, event: Event, error: str) -> bool:
        """Put an event in the subscription's dead-letter list (once); False if it was there."""
        buried = self._scripts["bury"](
            keys=[keys(subscription.name)["dead"], job_key(event.id)],
            args=[*_fields(subscription, event, error), self.jobs.retention_ms, job_key("")],
        )
        return bool(buried)

    def take(self, subscription: QueueInfo, batch: int = 100) -> list[Event]:
        """Lease the events due to be sent again (and those a lost worker did not send)."""
        k = keys(subscription.name)
        rows = self._scripts["take"](
            keys=[k["scheduled"], k["leased"]], args=[batch, job_key(""), int(SEND_LEASE * 1000)]
        )
        return [
            Event(
                id=text(event_id),
                task=text(task),
                payload=json.loads(payload),
                header=json.loads(header or b"{}"),
                attempt=int(attempt),
            )
            for event_id, task, payload, header, attempt in rows
        ]

    def sent(self, subscription: QueueInfo, event: Event) -> None:
        """Forget an event that is back on its queue (`event` as `take` gave it).

        The event may have been handled, and have failed again, before this: then
        the record is its next attempt's, and stays.
        """
        self._scripts["sent"](
            keys=[keys(subscription.name)["leased"], job_key(event.id)],
            args=[event.id, event.attempt],
        )

    def redrive(self, subscription: QueueInfo) -> int:
        """Send the dead events again with a fresh set of attempts (by the subscription's workers).

        In batches of `recovery_batch_size`, over as many events as the list held when
        it began; each is due at once, and a worker of the subscription sends it.
        """
        k = keys(subscription.name)
        remaining = cast(int, self.client.llen(k["dead"]))
        moved = 0
        while remaining > 0:
            batch = min(subscription.recovery_batch_size, remaining)
            taken, count = self._scripts["redrive"](
                keys=[k["dead"], k["scheduled"]],
                args=[job_key(""), batch, f"{PROJECT}:deliveries:"],
            )
            remaining -= int(taken)
            moved += int(count)
            if int(taken) == 0:
                break
        return moved


def _fields(subscription: QueueInfo, event: Event, error: str) -> list[Any]:
    """An event's record, as the scripts take it (the attempt is kept apart from the header)."""
    header = {k: v for k, v in event.header.items() if k != "attempt"}
    return [
        event.id,
        subscription.name,
        event.task,
        json.dumps(event.payload),
        json.dumps(header),
        event.attempt,
        subscription.max_attempts,
        error,
    ]
