"""The scheduler in-process (`purista.runtime.scheduler`): occurrences, claims, missed runs."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis
from purista.runtime import cli, scheduler
from purista.runtime.app import get_bridge, get_client, get_jobs
from purista.runtime.jobs import keys as job_keys
from purista.runtime.project import SCHEDULES
from purista.runtime.scheduler import Scheduler, decide, following, occurrence_id, previous
from support import wait_for

BERLIN = ZoneInfo("Europe/Berlin")
NIGHTLY = SCHEDULES["nightly"]  # cron "30 2 * * *" in Europe/Berlin
WORK = SCHEDULES["workEach"]  # every 1 s, enqueue `work`, missed: run_once


def _utc(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()  # type: ignore[misc]


def _local(at: int) -> str:
    return datetime.fromtimestamp(at, BERLIN).isoformat()


def _walk(schedule: scheduler.ScheduleInfo, start: float, count: int) -> list[int]:
    times, at = [], start
    for _ in range(count):
        at = following(schedule, at)
        times.append(at)
    return times


def test_a_cron_expression_fires_at_known_times() -> None:
    weekdays = replace(NIGHTLY, cron="15 9 * * 1-5", timezone="UTC")
    # Friday 2026-01-02 10:00 UTC: the next are Monday, Tuesday, ... at 09:15.
    got = [occurrence_id("w", at) for at in _walk(weekdays, _utc(2026, 1, 2, 10), 3)]
    assert got == ["w@2026-01-05T09:15:00Z", "w@2026-01-06T09:15:00Z", "w@2026-01-07T09:15:00Z"]
    assert previous(weekdays, _utc(2026, 1, 5, 9, 15)) == _utc(2026, 1, 5, 9, 15)
    assert previous(weekdays, _utc(2026, 1, 5, 9, 14, 59)) == _utc(2026, 1, 2, 9, 15)


def test_a_cron_expression_across_the_spring_change_of_berlin() -> None:
    # 2026-03-29: 02:00 CET becomes 03:00 CEST; 02:30 does not exist that night.
    got = [_local(at) for at in _walk(NIGHTLY, _utc(2026, 3, 27, 12), 3)]
    assert got == [
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:00:00+02:00",  # croniter: the first time after the gap
        "2026-03-30T02:30:00+02:00",
    ]


def test_a_cron_expression_across_the_autumn_change_of_berlin() -> None:
    # 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 happens twice, an hour apart.
    got = [_local(at) for at in _walk(NIGHTLY, _utc(2026, 10, 23, 12), 4)]
    assert got == [
        "2026-10-24T02:30:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:30:00+01:00",
        "2026-10-26T02:30:00+01:00",
    ]
    ids = [occurrence_id("nightly", at) for at in _walk(NIGHTLY, _utc(2026, 10, 24, 12), 2)]
    assert ids == ["nightly@2026-10-25T00:30:00Z", "nightly@2026-10-25T01:30:00Z"]


def test_every_counts_from_the_epoch() -> None:
    five = replace(WORK, every=300)
    assert following(five, _utc(2026, 1, 1, 10, 2, 7)) == _utc(2026, 1, 1, 10, 5)
    assert previous(five, _utc(2026, 1, 1, 10, 5)) == _utc(2026, 1, 1, 10, 5)


def test_only_the_latest_due_occurrence_fires_and_a_gap_fires_once_or_not_at_all() -> None:
    skip = replace(WORK, missed="skip")
    now = 1_000_000.2
    assert decide(WORK, 999_999, now).fire == (1_000_000,)  # on time, no gap
    assert decide(WORK, 1_000_000, now).fire == ()  # already handled
    # Down from 999 990 on: 9 missed, then the one due now.
    assert decide(WORK, 999_990, now).fire == (999_999, 1_000_000)
    assert decide(skip, 999_990, now) == scheduler.Decision((1_000_000,), 1_000_000, 999_999)
    # The latest due one is more than GRACE late: it belongs to the gap.
    hourly = replace(WORK, every=3600)
    late = 3600 * 10 + scheduler.GRACE + 1
    assert decide(hourly, 0, late).fire == (36000,)
    assert decide(replace(hourly, missed="skip"), 0, late).fire == ()


def test_of_two_schedulers_one_fires_an_occurrence_and_the_job_has_it_as_key(
    client: redis.Redis,
) -> None:
    first = Scheduler([WORK], get_client(), get_bridge())
    second = Scheduler([WORK], get_client(), get_bridge())
    at = int(_utc(2026, 1, 1))
    assert [first.fire(WORK, at), second.fire(WORK, at)] == [True, False]
    assert client.llen(job_keys("work")["pending"]) == 1
    occurrence = occurrence_id("workEach", at)
    job_id = client.get(job_keys("work")["key"] + occurrence)
    assert job_id is not None
    record = get_jobs().get(job_id.decode())
    assert record is not None
    assert record["message"]["occurrence_id"] == "workEach@2026-01-01T00:00:00Z"
    assert record["payload"] == {"task": "ok"}


def test_a_claim_left_by_a_dead_scheduler_is_fired_by_another_once_it_expires(
    client: redis.Redis,
) -> None:
    dead = Scheduler([WORK], get_client(), get_bridge(), claim_ttl=0.3)
    at = int(_utc(2026, 1, 1))
    # What a scheduler killed between claim and send leaves behind: its claim, no job.
    assert dead._claim(keys=scheduler.keys("workEach", at), args=["dead", 300, at]) == 1
    alive = Scheduler([WORK], get_client(), get_bridge(), claim_ttl=0.3)
    alive.recover(WORK)
    assert client.llen(job_keys("work")["pending"]) == 0  # the claim still holds
    # ... and then expires (its key goes; its place in the claims set falls due).
    client.delete(scheduler.keys("workEach", at)[0])
    client.zadd(scheduler.keys("workEach")[1], {str(at): 0})
    alive.recover(WORK)
    alive.recover(WORK)
    assert client.llen(job_keys("work")["pending"]) == 1
    assert client.zcard(scheduler.keys("workEach")[1]) == 0


def test_an_occurrence_once_handled_is_never_claimed_again(client: redis.Redis) -> None:
    one = Scheduler([WORK], get_client(), get_bridge())
    at = int(_utc(2026, 1, 1))
    client.hset(scheduler.keys("workEach")[2], "handled", str(at + 5))
    assert one.fire(WORK, at) is False  # skipped or fired long ago: its mark may be gone
    assert client.llen(job_keys("work")["pending"]) == 0


def test_an_invoke_is_sent_with_the_occurrence_id_and_nobody_waits(client: redis.Redis) -> None:
    greet = SCHEDULES["greetEach"]
    at = int(_utc(2026, 1, 1))
    assert Scheduler([greet], get_client(), get_bridge()).fire(greet, at)
    (raw,) = client.lrange("rtdouble.greeter.v1", 0, -1)
    message = json.loads(raw)
    assert message["headers"]["purista"]["occurrence_id"] == "greetEach@2026-01-01T00:00:00Z"
    assert "reply_to" not in message["headers"]["purista"]


def test_status_shows_the_last_and_the_next_run(client: redis.Redis) -> None:
    at = int(_utc(2026, 1, 1))
    Scheduler([WORK], get_client(), get_bridge()).fire(WORK, at)
    now = at + 10.5
    shown = scheduler.status(client, [WORK, NIGHTLY], now)
    assert shown["workEach"]["last"] == "workEach@2026-01-01T00:00:00Z"
    assert shown["workEach"]["next"] == "workEach@2026-01-01T00:00:11Z"
    assert shown["nightly"] == {
        "last": None,
        "last_sent_at": None,
        "next": "nightly@2026-01-01T01:30:00Z",
        "next_in": 5389.5,
        "pending_claims": 0,
    }


def test_a_running_scheduler_beats_is_ready_and_stops_when_asked(
    client: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PURISTA_HEALTH_DIR", str(tmp_path))
    running = Scheduler([WORK], get_client(), get_bridge())
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(running.run()))
    thread.start()
    try:
        assert wait_for((tmp_path / "ready").exists, 5)
        assert (tmp_path / "heartbeat").exists()
        # The first look begins the schedule now; the next occurrences fire on time.
        assert wait_for(lambda: client.llen(job_keys("work")["pending"]) >= 1, 5)
    finally:
        running.stop()
        thread.join(5)
    assert codes == [0] and not (tmp_path / "ready").exists()


def test_stats_show_each_schedules_last_and_next_run(client: redis.Redis) -> None:
    at = int(_utc(2026, 1, 1))
    Scheduler([WORK], get_client(), get_bridge()).fire(WORK, at)
    figures = cli.collect_stats()
    assert figures["schedules"]["workEach"]["last"] == "workEach@2026-01-01T00:00:00Z"
    assert set(figures["schedules"]) == set(SCHEDULES)
    table = cli.format_stats(figures)
    row = next(line for line in table.splitlines() if line.startswith("workEach "))
    assert "workEach@2026-01-01T00:00:00Z" in row
    assert row.split()[2].startswith("workEach@")  # the next run
