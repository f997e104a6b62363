"""The Celery app of a process and what hangs off it (`purista.runtime.app`), on a real Redis."""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
import redis
from celery import Celery, current_app
from purista.runtime.app import (
    HARD_LIMIT_GRACE,
    create_app,
    get_app,
    get_bridge,
    get_client,
    get_jobs,
    register,
    reset,
    states_for,
)
from purista.runtime.errors import InvalidPayload
from purista.runtime.runner import service_bindings
from purista.runtime.settings import Settings
from purista.runtime.transport import Transport
from runtime_double.handlers import greet, shout
from support import wait_for

BINDINGS = service_bindings("greeter.v1") + service_bindings("shouter.v1")


# ---------------------------------------------------------------------- create_app


def test_create_app_speaks_json_only_to_the_given_redis(redis_url: str) -> None:
    app = create_app(replace(Settings.from_env(), result_expires=120))
    conf = app.conf
    assert app.main == "rtdouble"
    assert (conf.broker_url, conf.result_backend) == (redis_url, redis_url)
    assert (conf.task_serializer, conf.result_serializer) == ("json", "json")
    assert conf.accept_content == conf.result_accept_content == ["json"]
    assert conf.task_default_queue == "rtdouble.default"
    assert conf.result_expires == 120
    assert conf.enable_utc


def test_create_app_takes_one_message_at_a_time_and_acks_commands_early() -> None:
    conf = create_app(Settings.from_env()).conf
    assert conf.worker_prefetch_multiplier == 1
    assert conf.worker_disable_prefetch is True
    assert conf.task_acks_late is False


def test_create_app_uses_the_hardened_transport() -> None:
    app = create_app(Settings.from_env())
    assert app.conf.broker_transport == "purista.runtime.transport:Transport"
    with app.connection_for_write() as connection:
        assert isinstance(connection.transport, Transport)
        assert connection.default_channel.client.ping()
    assert current_app._get_current_object() is not app


# ------------------------------------------------------- one of each per process


def test_app_client_bridge_and_jobs_are_made_once(redis_url: str) -> None:
    app, client, bridge = get_app(), get_client(), get_bridge()
    assert get_app() is app
    assert get_client() is client
    assert get_bridge() is bridge
    assert get_jobs() is bridge.jobs
    assert bridge.jobs.client is client
    assert app.conf.broker_url == redis_url
    assert client.ping()


def test_threads_racing_for_the_bridge_get_the_same_one() -> None:
    start = threading.Barrier(8)

    def take() -> object:
        start.wait()
        return get_bridge()

    with ThreadPoolExecutor(8) as pool:
        bridges = list(pool.map(lambda _: take(), range(8)))
    assert all(b is bridges[0] for b in bridges)
    assert get_app() is get_bridge()._app


def test_reset_forgets_them_and_the_environment_is_read_again(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, client, bridge = get_app(), get_client(), get_bridge()
    other = redis_url.rsplit("/", 1)[0] + "/3"
    monkeypatch.setenv("REDIS_URL", other)
    monkeypatch.setenv("PURISTA_RESULT_EXPIRES", "77")
    monkeypatch.setenv("PURISTA_JOB_RETENTION", "12.5")
    assert get_app() is app  # read once, until reset
    reset()
    assert get_app() is not app
    assert get_client() is not client
    assert get_bridge() is not bridge
    assert get_app().conf.broker_url == other
    assert get_app().conf.result_expires == 77
    assert get_jobs().retention_ms == 12_500
    assert get_client().connection_pool.connection_kwargs["db"] == 3


def test_reset_closes_the_client_it_forgets(client: redis.Redis) -> None:
    def connected() -> set[str]:
        return {c["id"] for c in client.client_list()}

    before = connected()
    assert get_client().ping()
    opened = connected() - before
    assert len(opened) == 1
    reset()
    assert wait_for(lambda: not opened & connected(), 2)


# ---------------------------------------------------------------------- states_for


def test_states_for_uses_the_service_versions_prefix_and_its_state_ttl(client: redis.Redis) -> None:
    greeter = states_for("greeter.v1")
    greeter.set_state("seen", {"n": 1})
    assert client.get("rtdouble:state:greeter.v1:seen") == b'{"n": 1}'
    assert 0 < client.pttl("rtdouble:state:greeter.v1:seen") <= 60_000
    assert greeter.get_state("seen") == {"n": 1}
    shouter = states_for("shouter.v1")
    shouter.set_state("seen", 2)
    assert client.get("rtdouble:state:shouter.v1:seen") == b"2"
    assert client.ttl("rtdouble:state:shouter.v1:seen") == -1  # no state_ttl: kept
    assert shouter.get_state("seen") == 2
    greeter.remove_state("seen")
    assert client.exists("rtdouble:state:greeter.v1:seen") == 0
    assert shouter.get_state("seen") == 2


# ------------------------------------------------------------------------ register


def test_register_makes_a_task_per_command_and_subscription() -> None:
    app = create_app(Settings.from_env())
    register(app, BINDINGS)
    handled = [b for b in BINDINGS if b.kind != "queue"]
    assert {b.task for b in handled} == {
        "greeter.v1.greet",
        "greeter.v1.audit",
        "shouter.v1.shout",
        "shouter.v1.count",
    }
    for binding in handled:
        task = app.tasks[binding.task]
        assert (task.name, task.queue) == (binding.task, binding.queue)
        assert task.throws == (InvalidPayload,)
        assert task.typing is False
        assert task.soft_time_limit == math.ceil(binding.timeout)
        assert task.time_limit == math.ceil(binding.timeout + HARD_LIMIT_GRACE)
    assert "work" not in app.tasks  # jobs do not travel as Celery messages


def test_only_subscriptions_are_acknowledged_late() -> None:
    app = create_app(Settings.from_env())
    register(app, BINDINGS)
    tasks = [app.tasks[b.task] for b in BINDINGS if b.kind != "queue"]
    late = {t.name for t in tasks if t.acks_late}
    rejected = {t.name for t in tasks if t.reject_on_worker_lost}
    assert late == rejected == {"greeter.v1.audit", "shouter.v1.count"}
    assert all(t.reject_on_worker_lost is False for t in tasks if t.name not in late)


def registered() -> Celery:
    """This process's app with the double's tasks, registered once per process as in a worker."""
    app = get_app()
    register(app, [b for b in BINDINGS if b.task not in app.tasks])
    return app


def test_a_registered_task_runs_its_handler_and_emits_its_success_event(
    client: redis.Redis,
) -> None:
    app = registered()
    result = app.tasks["greeter.v1.greet"].apply(kwargs={"payload": {"name": "ada"}})
    assert result.get() == {"greeting": "hello ada", "name": "ada"}
    (call,) = greet.CALLS
    assert call["message"].message_id == call["message"].trace_id == result.id
    assert client.llen("rtdouble.greeter.v1.audit") == 1
    assert client.llen("rtdouble.shouter.v1.count") == 1
    assert client.keys("rtdouble:reply:*") == []


def test_a_registered_task_raises_the_handler_error_and_invalid_payloads(
    client: redis.Redis,
) -> None:
    app = registered()
    hoarse = app.tasks["shouter.v1.shout"].apply(kwargs={"payload": {"text": "hoarse"}})
    assert type(hoarse.result) is shout.HoarseError
    invalid = app.tasks["shouter.v1.shout"].apply(kwargs={"payload": {"txt": "x"}})
    assert isinstance(invalid.result, InvalidPayload)
    assert "text" in str(invalid.result)
    assert len(shout.CALLS) == 1
