# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""Celery's Redis transport, hardened against messages from foreign producers.

Plain kombu decodes each message inside its Redis read loop: one item on a queue
that is not JSON, or not a kombu envelope, raises there and stops the worker's
consumer. Here such an item is logged and dropped, and the worker goes on.
"""

from __future__ import annotations

import base64
import binascii
import logging
from queue import Empty
from typing import Any

from kombu.transport import redis as kombu_redis

logger = logging.getLogger(__name__)


class Channel(kombu_redis.Channel):
    """A Redis channel that drops items that are not JSON instead of failing."""

    def _brpop_read(self, **options: Any) -> bool:
        try:
            # A private method of kombu's channel, which its type stubs leave out.
            return bool(super()._brpop_read(**options))  # type: ignore[misc]
        except ValueError as exc:  # the item was popped but is not JSON
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
        super()._deliver(message, queue)


def envelope_problem(message: Any) -> str | None:
    """What makes `message` unusable as a kombu envelope, or None if it is one."""
    if not isinstance(message, dict):
        return f"a JSON {type(message).__name__}, not an object"
    properties = message.get("properties")
    if not isinstance(properties, dict):
        return "no `properties` object"
    if "delivery_tag" not in properties or not isinstance(properties.get("delivery_info"), dict):
        return "no `delivery_tag` or `delivery_info` in its properties"
    body = message.get("body")
    if properties.get("body_encoding") == "base64":
        if not isinstance(body, str):
            return "a base64 body that is not a string"
        try:
            base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return "a body that is not valid base64"
    return None
