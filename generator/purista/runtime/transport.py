# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""Celery's Redis transport, hardened against messages from foreign producers.

Plain kombu decodes each message inside its Redis read loop: one item on a queue
that is not JSON, or not a kombu envelope, raises there and stops the worker's
consumer; an envelope whose contents Celery cannot read holds a worker slot for
good, or stops the worker too. Here such an item is logged and dropped (an
envelope Celery choked on is acknowledged), and the worker goes on.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from queue import Empty
from typing import Any

from kombu.transport import redis as kombu_redis

logger = logging.getLogger(__name__)


class QoS(kombu_redis.QoS):
    """kombu's acknowledgement emulation, putting back lost deliveries at every sweep.

    Unacknowledged messages (events whose worker was lost) go back to their queue
    once they are older than the visibility timeout, at the transport's periodic
    sweep (every 10 s). kombu scans Redis only at every 10th sweep by default;
    here every sweep scans, so a lost event comes back within the visibility
    timeout and 10 s.
    """

    def restore_visible(self, start: int = 0, num: int = 10, interval: int = 10) -> None:
        """Restore messages older than the visibility timeout, scanning at every call."""
        super().restore_visible(start=start, num=num, interval=1)


class Channel(kombu_redis.Channel):
    """A Redis channel that drops items that are not JSON instead of failing.

    It also keeps one client of its connection pool for its queue operations: kombu
    builds a new client object for each (recording a delivery, acknowledging it, ...),
    about 60 µs of CPU each, twice or more per message.
    """

    QoS = QoS

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        """The client given, or the one this channel keeps for its current pool."""
        if client:
            yield client
            return
        pool = self.pool
        kept = self.__dict__.get("_purista_client")
        if kept is None or kept.connection_pool is not pool:  # a new pool after a reconnect
            kept = self.__dict__["_purista_client"] = self.Client(connection_pool=pool)
        yield kept

    def _brpop_read(self, **options: Any) -> bool:
        try:
            # A private method of kombu's channel, which its type stubs leave out.
            return bool(super()._brpop_read(**options))  # type: ignore[misc]
        except ValueError as exc:  # the item was popped but is not JSON (see `_deliver`)
            logger.error("dropped a message that is not JSON: %s", exc)
            raise Empty() from None


class Transport(kombu_redis.Transport):
    """The Redis transport with `Channel` above, delivering only well-formed envelopes."""

    Channel = Channel

    def _deliver(self, message: Any, queue: str | None) -> None:
        problem = envelope_problem(message)
        if problem:
            logger.error("dropped a message on %s that is not a Celery message: %s", queue, problem)
            return
        try:
            super()._deliver(message, queue)
        except self.connection_errors + self.channel_errors:
            # Redis failed: the consumer reconnects. kombu pops a message and records it
            # as unacknowledged in two steps; if the second failed, the message exists
            # only here now, and goes back to its queue once Redis answers again.
            tag = message["properties"]["delivery_tag"]
            if queue and not any(tag in (c.qos._delivered or {}) for c in self.channels or ()):
                threading.Thread(
                    target=_put_back, args=(queue, message), name="purista-put-back", daemon=True
                ).start()
            raise
        except Exception as exc:  # noqa: BLE001  (a message Celery could not take)
            tag = message["properties"]["delivery_tag"]
            for channel in self.channels or ():
                if tag in (channel.qos._delivered or {}):
                    channel.qos.ack(tag)
            logger.error(
                "dropped a message on %s that Celery could not take: %s: %s",
                queue,
                type(exc).__name__,
                exc,
            )


def _put_back(queue: str, message: dict[str, Any], patience: float = 600.0) -> None:
    """Push a message popped from `queue` back to where it is taken next, retrying for a while."""
    from .app import get_client  # the runtime's client; the transport is loaded by name

    deadline, pause = time.monotonic() + patience, 0.1
    while True:
        try:
            get_client().rpush(queue, json.dumps(message))
        except Exception as exc:  # noqa: BLE001  (Redis still away: try again)
            if time.monotonic() > deadline:
                logger.error("lost a message of %s that Redis could not take back: %s", queue, exc)
                return
            time.sleep(pause)
            pause = min(pause * 2, 5.0)
        else:
            logger.warning("put back a message of %s that was taken while Redis went away", queue)
            return


def envelope_problem(message: Any) -> str | None:
    """What makes `message` unusable as a kombu envelope, or None if it is one."""
    if not isinstance(message, dict):
        return f"a JSON {type(message).__name__}, not an object"
    properties = message.get("properties")
    if not isinstance(properties, dict):
        return "no `properties` object"
    tag = properties.get("delivery_tag")
    if not (isinstance(tag, str) and tag) or not isinstance(properties.get("delivery_info"), dict):
        return "no `delivery_tag` (a string) or `delivery_info` in its properties"
    body = message.get("body")
    if properties.get("body_encoding") == "base64":
        if not isinstance(body, str):
            return "a base64 body that is not a string"
        try:
            base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return "a body that is not valid base64"
    return None
