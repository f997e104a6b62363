"""State stores: in Redis with the service's TTL, in memory with a clock (`states`)."""

from __future__ import annotations

import math

import pytest
import redis
from purista.runtime import app
from purista.runtime.project import SERVICES
from purista.runtime.states import MemoryStates, RedisStates, encode

PREFIX = "rtdouble:state:greeter.v1:"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------------ encode


def test_encode_writes_json() -> None:
    assert encode("k", {"a": [1, 2.5, None, True, "x"]}) == '{"a": [1, 2.5, null, true, "x"]}'


@pytest.mark.parametrize("value", [{1, 2}, object(), math.nan, {"n": math.inf}, b"bytes"])
def test_encode_refuses_what_is_not_json_naming_the_key(value: object) -> None:
    with pytest.raises(TypeError, match=r"^state 'avatar:1' must be JSON-serialisable: "):
        encode("avatar:1", value)


# ------------------------------------------------------------------- RedisStates


def test_redis_states_keep_json_values_under_the_prefix(client: redis.Redis) -> None:
    states = RedisStates(client, PREFIX, None)
    assert states.get_state("user") is None
    value = {"name": "ann", "visits": [1, 2], "vip": False, "note": None}
    states.set_state("user", value)
    assert states.get_state("user") == value
    assert (
        client.get(PREFIX + "user")
        == b'{"name": "ann", "visits": [1, 2], "vip": false, "note": null}'
    )
    states.set_state("user", 3)
    assert states.get_state("user") == 3
    states.set_state("count", 0)
    states.remove_state("user")
    assert states.get_state("user") is None
    assert client.keys("*") == [(PREFIX + "count").encode()]
    states.remove_state("never-set")


def test_the_service_state_ttl_is_the_default(client: redis.Redis) -> None:
    states = app.states_for("greeter.v1")
    assert SERVICES["greeter.v1"].state_ttl == 60
    states.set_state("k", "v")
    assert 59_000 < client.pttl(PREFIX + "k") <= 60_000
    assert states.get_state("k") == "v"


def test_a_ttl_given_to_set_state_wins(client: redis.Redis) -> None:
    states = RedisStates(client, PREFIX, 60)
    states.set_state("short", 1, ttl=1.5)
    assert 1000 < client.pttl(PREFIX + "short") <= 1500
    states.set_state("long", 1, ttl=3600)
    assert 3_599_000 < client.pttl(PREFIX + "long") <= 3_600_000
    states.set_state("tiny", 1, ttl=0.0001)
    assert client.pttl(PREFIX + "tiny") in (-2, 0, 1)


def test_no_ttl_when_the_service_has_none(client: redis.Redis) -> None:
    states = app.states_for("shouter.v1")
    assert SERVICES["shouter.v1"].state_ttl is None
    states.set_state("k", [1])
    assert client.pttl("rtdouble:state:shouter.v1:k") == -1
    states.set_state("k", [2], ttl=10)
    assert 9_000 < client.pttl("rtdouble:state:shouter.v1:k") <= 10_000


def test_setting_again_resets_the_ttl(client: redis.Redis) -> None:
    states = RedisStates(client, PREFIX, None)
    states.set_state("k", 1, ttl=10)
    states.set_state("k", 2)
    assert client.pttl(PREFIX + "k") == -1


def test_redis_states_refuse_a_value_that_is_not_json(client: redis.Redis) -> None:
    states = RedisStates(client, PREFIX, 60)
    states.set_state("k", "kept")
    with pytest.raises(TypeError, match=r"^state 'k' must be JSON-serialisable"):
        states.set_state("k", {"when": object()})
    assert states.get_state("k") == "kept"


# ------------------------------------------------------------------ MemoryStates


def test_memory_states_offer_the_same_api() -> None:
    states = MemoryStates()
    assert states.get_state("user") is None
    value = {"name": "ann", "visits": [1, 2]}
    states.set_state("user", value)
    assert states.get_state("user") == value
    value["visits"].append(3)
    assert states.get_state("user") == {"name": "ann", "visits": [1, 2]}
    states.remove_state("user")
    assert states.get_state("user") is None
    states.remove_state("never-set")


def test_memory_states_default_ttl_and_a_per_call_ttl() -> None:
    clock = Clock()
    states = MemoryStates(60, clock=clock)
    states.set_state("default", 1)
    states.set_state("short", 2, ttl=5)
    states.set_state("long", 3, ttl=120)
    clock.now += 4.9
    assert [states.get_state(k) for k in ("default", "short", "long")] == [1, 2, 3]
    clock.now += 0.1
    assert states.get_state("short") is None
    clock.now += 55
    assert (states.get_state("default"), states.get_state("long")) == (None, 3)
    clock.now += 60
    assert states.get_state("long") is None
    assert states._data == {}


def test_memory_states_without_a_default_keep_values_forever() -> None:
    clock = Clock()
    states = MemoryStates(clock=clock)
    states.set_state("k", "v")
    clock.now += 10**9
    assert states.get_state("k") == "v"


def test_memory_states_refuse_a_value_that_is_not_json() -> None:
    states = MemoryStates()
    with pytest.raises(TypeError, match=r"^state 'k' must be JSON-serialisable"):
        states.set_state("k", math.nan)
    assert states.get_state("k") is None
