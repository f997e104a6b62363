# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""The scheduler: fires each occurrence of the spec's schedules once, however many run.

An occurrence is a schedule's name and a time (whole seconds, UTC); its id reads
`nightlyReport@2026-03-29T01:00:00Z`. Every replica computes the same occurrences
(croniter for `cron`, in the schedule's time zone, DST included; multiples of
`every` seconds since the Unix epoch) and tries to fire each when it is due.
Firing is claim, send, mark, each step one Redis call:

    <project>:schedule:<name>              hash: `handled` (every occurrence up to this
                                           time was fired or skipped), `fired` (the last
                                           one sent), `fired_at` (when)
    <project>:schedule:<name>:claims       sorted set: occurrence -> claim expiry, for
                                           occurrences claimed and not yet marked sent
    <project>:schedule:<name>:at:<time>    the claim (`SET NX` with an expiry): the
                                           claimer's token, `sent` once marked

- claim: one replica wins `SET NX`; the others leave the occurrence alone.
- send: the job is enqueued (its idempotency key is the occurrence id), the command
  sent or the event emitted, with the occurrence id in the message metadata.
- mark: the claim becomes `sent` and leaves the claims set.

A replica that dies between claim and mark leaves its claim in the claims set; once
the claim has expired (`PURISTA_SCHEDULE_CLAIM_TTL`, 30 s), any replica claims the
occurrence again and sends it. So no occurrence is lost to a crash, and none is
sent twice except when a replica dies after sending and before marking: then it
is sent again with the same occurrence id (a job is not: its idempotency key
gives the first job back).

After a time with no scheduler running, the occurrences missed meanwhile are
skipped (`missed: skip`) or fired as one run, the latest of them (`run_once`);
the latest due occurrence still fires when it is at most `GRACE` seconds late.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import FrameType
from typing import Any, cast
from zoneinfo import ZoneInfo

import redis
from croniter import croniter
from opentelemetry.trace import SpanKind, Status, StatusCode

from . import health, telemetry
from .app import get_bridge, get_client
from .bridge import CeleryBridge
from .context import Message
from .info import ScheduleInfo
from .project import COMMANDS, PROJECT, QUEUES, SCHEDULES

logger = logging.getLogger(__name__)

#: How late (seconds) the latest due occurrence may be noticed and still fire as on time.
GRACE = 60
#: Seconds a claim holds before another replica may fire the occurrence (unless marked sent).
CLAIM_TTL = 30.0
#: Seconds a `sent` mark is kept; by then every replica has moved past the occurrence.
SENT_TTL = 600
#: Seconds a send keeps trying while Redis refuses it (less than the claim's life).
SEND_PATIENCE = 10.0
#: The longest the loop sleeps: how soon it looks for expired claims and for a stop.
POLL = 1.0

# KEYS: claim, claims, state  ARGV: token, ttl (ms), occurrence (s)
# 1: claimed. 0: another replica holds or sent it, or it was decided (fired or skipped).
_CLAIM = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local handled = tonumber(redis.call('HGET', KEYS[3], 'handled') or '-1')
local pending = redis.call('ZSCORE', KEYS[2], ARGV[3])
if tonumber(ARGV[3]) <= handled and not pending then return 0 end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[3])
return 1
"""

# KEYS: claim, claims, state  ARGV: token, occurrence (s), sent ttl (ms)
# 1: marked. 0: the claim had expired and another replica took it over (sent twice).
_MARK = """
local t = redis.call('TIME')
local mine = redis.call('GET', KEYS[1]) == ARGV[1]
redis.call('SET', KEYS[1], 'sent', 'PX', ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[2])
local fired = tonumber(redis.call('HGET', KEYS[3], 'fired') or '-1')
if tonumber(ARGV[2]) > fired then
  redis.call('HSET', KEYS[3], 'fired', ARGV[2], 'fired_at', t[1])
end
if mine then return 1 end
return 0
"""

# KEYS: state  ARGV: occurrence (s): `handled` moves forward only.
_ADVANCE = """
local handled = tonumber(redis.call('HGET', KEYS[1], 'handled') or '-1')
if tonumber(ARGV[1]) > handled then redis.call('HSET', KEYS[1], 'handled', ARGV[1]) end
return 1
"""

_fired = telemetry.meter.create_counter(
    "purista.schedule.fired",
    unit="{occurrence}",
    description="Occurrences of a schedule sent, by outcome",
)


def occurrence_id(name: str, at: int) -> str:
    """`<schedule>@<time in UTC, ISO 8601>`: the same on every replica."""
    return f"{name}@{datetime.fromtimestamp(at, UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"


def previous(schedule: ScheduleInfo, at: float) -> int:
    """The latest occurrence at or before `at` (seconds since the epoch)."""
    whole = int(at // 1)
    if schedule.every is not None:
        return whole - whole % schedule.every
    start = datetime.fromtimestamp(whole + 1, ZoneInfo(schedule.timezone))
    return int(croniter(cast(str, schedule.cron), start).get_prev(datetime).timestamp())


def following(schedule: ScheduleInfo, at: float) -> int:
    """The earliest occurrence after `at` (seconds since the epoch)."""
    whole = int(at // 1)
    if schedule.every is not None:
        return whole - whole % schedule.every + schedule.every
    start = datetime.fromtimestamp(whole, ZoneInfo(schedule.timezone))
    return int(croniter(cast(str, schedule.cron), start).get_next(datetime).timestamp())


def keys(name: str, at: int | None = None) -> list[str]:
    """The claim of occurrence `at`, the claims set and the state hash of schedule `name`."""
    base = f"{PROJECT}:schedule:{name}"
    stamp = datetime.fromtimestamp(at or 0, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [f"{base}:at:{stamp}", f"{base}:claims", base]


@dataclass(frozen=True)
class Decision:
    """What one look at a schedule decided: the occurrences to fire, and how far it looked."""

    fire: tuple[int, ...]
    handled: int
    skipped_until: int | None = None  # the last of the missed occurrences not fired


def decide(schedule: ScheduleInfo, handled: int, now: float) -> Decision:
    """Which occurrences after `handled` fire at `now`.

    The latest due one, if it is on time; of a gap of missed ones, none (`skip`) or
    the latest (`run_once`).
    """
    latest = previous(schedule, now)
    if latest <= handled:
        return Decision((), handled)
    late = now - latest > GRACE
    gap_end = latest if late else previous(schedule, latest - 1)
    fire: list[int] = []
    skipped_until = None
    if gap_end > handled:
        if schedule.missed == "run_once":
            fire.append(gap_end)
        else:
            skipped_until = gap_end
    if not late:
        fire.append(latest)
    return Decision(tuple(fire), latest, skipped_until)


class Scheduler:
    """Fires the occurrences of `schedules` until stopped; any number may run side by side."""

    def __init__(
        self,
        schedules: Iterable[ScheduleInfo],
        client: redis.Redis,
        bridge: CeleryBridge,
        *,
        claim_ttl: float = CLAIM_TTL,
    ) -> None:
        self.schedules = tuple(schedules)
        self.client = client
        self.bridge = bridge
        self.claim_ttl_ms = int(claim_ttl * 1000)
        self.stopping = threading.Event()
        self._claim = client.register_script(_CLAIM)
        self._mark = client.register_script(_MARK)
        self._advance = client.register_script(_ADVANCE)
        self._outage_since: float | None = None

    def serve(self) -> int:
        """`run` with SIGTERM and SIGINT stopping it (from the main thread)."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        return self.run()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        logger.info("stopping: a firing under way finishes, no new one starts")
        self.stop()

    def stop(self) -> None:
        """Fire nothing more; `run` returns once a firing under way is sent and marked."""
        health.set_ready(False)
        self.stopping.set()

    def run(self) -> int:
        """Look at every schedule and at expired claims, then sleep until the next occurrence."""
        names = ", ".join(s.name for s in self.schedules)
        logger.info("scheduler: %s", names)
        health.beat()  # alive before ready: a probe never sees ready without a heartbeat
        last_beat = time.monotonic()
        health.set_ready(True)
        while not self.stopping.is_set():
            now = time.time()
            if time.monotonic() - last_beat >= health.HEARTBEAT_INTERVAL / 2:
                health.beat()
                last_beat = time.monotonic()
            try:
                for schedule in self.schedules:
                    if self.stopping.is_set():
                        break
                    self.look(schedule, now)
                    self.recover(schedule)
            except redis.RedisError as exc:
                if self._outage_since is None:
                    self._outage_since = time.monotonic()
                    logger.warning("Redis cannot be reached (%s); retrying", exc)
            else:
                if self._outage_since is not None:
                    gone = time.monotonic() - self._outage_since
                    logger.warning("Redis is back after %.1f s", gone)
                    self._outage_since = None
            due = min((following(s, time.time()) for s in self.schedules), default=0)
            # A few ms past the occurrence, so that the next look finds it due.
            self.stopping.wait(max(0.0, min(POLL, due - time.time() + 0.005)))
        logger.info("scheduler stopped")
        return 0

    def look(self, schedule: ScheduleInfo, now: float) -> None:
        """Fire what of `schedule` is due at `now`, then move its `handled` mark forward."""
        state = keys(schedule.name)[2]
        raw = self.client.hget(state, "handled")
        if raw is None:  # never run before: begin now, with nothing behind
            self.client.hsetnx(state, "handled", str(int(now // 1)))
            return
        decision = decide(schedule, int(cast(bytes, raw)), now)
        if decision.skipped_until is not None:
            logger.warning(
                "schedule %s: occurrences up to %s were missed while no scheduler ran; "
                "none is fired (missed: skip)",
                schedule.name,
                occurrence_id(schedule.name, decision.skipped_until),
            )
        for at in decision.fire:
            self.fire(schedule, at)
        if decision.handled > int(cast(bytes, raw)):
            self._advance(keys=[state], args=[decision.handled])

    def recover(self, schedule: ScheduleInfo) -> None:
        """Fire the occurrences whose claim expired before they were marked sent.

        Expiry is judged by Redis's clock, which set it, not by this host's.
        """
        claims = keys(schedule.name)[1]
        seconds, micros = cast(tuple[int, int], self.client.time())
        now_ms = seconds * 1000 + micros // 1000
        expired = cast(list[bytes], self.client.zrangebyscore(claims, "-inf", now_ms, 0, 20))
        for member in expired:
            if self.stopping.is_set():
                return
            self.fire(schedule, int(member), recovering=True)

    def fire(self, schedule: ScheduleInfo, at: int, *, recovering: bool = False) -> bool:
        """Claim, send and mark one occurrence; False when another replica has it."""
        token = uuid.uuid4().hex
        claim = keys(schedule.name, at)
        if not self._claim(keys=claim, args=[token, self.claim_ttl_ms, at]):
            return False
        occurrence = occurrence_id(schedule.name, at)
        if recovering:
            logger.warning(
                "schedule %s: the claim of %s expired before it was marked sent; sending it",
                schedule.name,
                occurrence,
            )
        labels = {"purista.schedule": schedule.name}
        with telemetry.tracer.start_as_current_span(
            f"schedule {schedule.name}",
            kind=SpanKind.PRODUCER,
            attributes={
                "purista.schedule": schedule.name,
                "purista.occurrence": occurrence,
                "purista.schedule.lateness": max(0.0, time.time() - at),
                "messaging.destination.name": schedule.target,
            },
        ) as span:
            try:
                self.send(schedule, occurrence)
            except Exception as exc:  # noqa: BLE001  (the claim expires; a replica fires it again)
                span.set_status(Status(StatusCode.ERROR, str(exc)))
                _fired.add(1, {**labels, "purista.outcome": "failure"})
                logger.error(
                    "schedule %s: %s could not be sent (%s: %s); it is fired again once its "
                    "claim expires",
                    schedule.name,
                    occurrence,
                    type(exc).__name__,
                    exc,
                )
                return False
        _fired.add(1, {**labels, "purista.outcome": "success"})
        if not self._mark(keys=claim, args=[token, at, SENT_TTL * 1000]):
            logger.warning(
                "schedule %s: %s was sent after its claim expired; it may have been sent twice "
                "(with the same occurrence id)",
                schedule.name,
                occurrence,
            )
        logger.info("schedule %s: fired %s", schedule.name, occurrence)
        return True

    def send(self, schedule: ScheduleInfo, occurrence: str) -> None:
        """The schedule's message, with `occurrence` in its metadata."""
        message = replace(Message.first(), occurrence_id=occurrence)
        payload = dict(schedule.payload)
        if schedule.kind == "enqueue":
            self.bridge.enqueue(
                QUEUES[schedule.target], payload, message, idempotency_key=occurrence
            )
        elif schedule.kind == "invoke":
            self.bridge.post(COMMANDS[schedule.target], payload, message, SEND_PATIENCE)
        else:
            self.bridge.emit(schedule.target, payload, message)


def status(client: redis.Redis, schedules: Iterable[ScheduleInfo], now: float) -> dict[str, Any]:
    """Per schedule: its last firing (occurrence and when it was sent) and its next occurrence."""
    out: dict[str, Any] = {}
    for schedule in schedules:
        fired, fired_at = cast(
            list[bytes | None], client.hmget(keys(schedule.name)[2], ["fired", "fired_at"])
        )
        upcoming = following(schedule, now)
        out[schedule.name] = {
            "last": occurrence_id(schedule.name, int(fired)) if fired else None,
            "last_sent_at": _iso(int(fired_at)) if fired_at else None,
            "next": occurrence_id(schedule.name, upcoming),
            "next_in": round(upcoming - now, 1),
            "pending_claims": cast(int, client.zcard(keys(schedule.name)[1])),
        }
    return out


def _iso(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_scheduler(only: Iterable[str] = (), *, loglevel: str = "INFO") -> int:
    """`python -m <package> scheduler`: fire the schedules (`only` these, if given)."""
    telemetry.install_log_ids()
    logging.basicConfig(level=loglevel.upper(), format=telemetry.LOG_FORMAT)
    telemetry.setup("scheduler", worker=telemetry.worker_name(("scheduler",)))
    health.set_ready(False)
    chosen = set(only)
    schedules = [s for name, s in SCHEDULES.items() if not chosen or name in chosen]
    ttl = float(os.environ.get("PURISTA_SCHEDULE_CLAIM_TTL") or CLAIM_TTL)
    return Scheduler(schedules, get_client(), get_bridge(), claim_ttl=ttl).serve()
